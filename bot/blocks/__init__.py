"""Block Kit messages, built by pure functions: data in, `{"text", "blocks"}` out; one module per
kind of reply. The names every caller uses are re-exported here."""

from bot.blocks.base import (
    CANCEL_ACTION,
    LAUNCH_ACTION,
    MAX_LINES_SHOWN,
    MAX_SECTION_CHARS,
    Block,
    Message,
    context,
    count,
    esc,
    exact,
    fields,
    header,
    mention,
    message,
    section,
    usd,
)
from bot.blocks.errors import (
    service_error,
    slack_file_problem,
    unexpected_error,
)
from bot.blocks.estimates import (
    inference_estimate,
    training_estimate,
)
from bot.blocks.help import (
    help_message,
    usage_error,
    working,
)
from bot.blocks.launch import (
    launch_cancelled,
    launch_failed,
    launch_preview,
    launch_started,
    launch_value,
    launching,
    only_requester,
)
from bot.blocks.subscriptions import (
    describe_destination,
    describe_follows,
    subscribed,
    subscription_list,
    unsubscribed,
)

__all__ = [
    "CANCEL_ACTION",
    "LAUNCH_ACTION",
    "MAX_LINES_SHOWN",
    "MAX_SECTION_CHARS",
    "Block",
    "Message",
    "context",
    "count",
    "describe_destination",
    "describe_follows",
    "esc",
    "exact",
    "fields",
    "header",
    "help_message",
    "inference_estimate",
    "launch_cancelled",
    "launch_failed",
    "launch_preview",
    "launch_started",
    "launch_value",
    "launching",
    "mention",
    "message",
    "only_requester",
    "section",
    "service_error",
    "slack_file_problem",
    "subscribed",
    "subscription_list",
    "training_estimate",
    "unexpected_error",
    "unsubscribed",
    "usage_error",
    "usd",
    "working",
]
