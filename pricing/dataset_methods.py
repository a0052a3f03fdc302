"""The file formats of preference (DPO) and reinforcement fine-tuning, checked line by line.

OpenAI's formats (fine-tuning guides for direct preference optimization and reinforcement
fine-tuning):

* **preference**: ``{"input": {"messages": [...], "tools": ..., ...}, "preferred_output":
  [assistant message], "non_preferred_output": [assistant message]}``.
* **reinforcement**: ``{"messages": [...], ...}``: the prompt the model answers during training,
  plus any reference fields the grader reads (``{{item.<field>}}``). The grader itself is part of
  the job, not of the file, and no answer is needed (the model writes it).

Token counting reuses the chat rules of :mod:`pricing.dataset_tokens` through the callables it
passes in, so this module stays free of tokenizer state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Method = Literal["supervised", "preference", "reinforcement"]
METHODS: tuple[Method, ...] = ("supervised", "preference", "reinforcement")

# OpenAI bills preference tuning "by the number of tokens in the training dataset" (reference
# section 4b) without saying how a pair is counted; this is ratecard's reading of it.
PREFERENCE_BILLING_ASSUMPTION = (
    "preference (DPO) billing tokens are ratecard's assumption: every token in the file, i.e. "
    "each example's input messages once plus both its preferred and non-preferred outputs "
    "(OpenAI bills DPO by the tokens in the training dataset and publishes no finer rule)"
)
REINFORCEMENT_BILLING_NOTE = (
    "reinforcement fine-tuning is billed per hour of training, not by these tokens; the token "
    "figures describe the prompts only (reference fields go to the grader and are not counted)"
)

# (messages, line) -> (tokens of the messages without the conversation's priming, assistant
# tokens, whether an assistant message was there); reports message-level problems itself.
MessagesCheck = Callable[[list[object], int], tuple[int, int, bool]]
ErrorSink = Callable[[str, int], None]
PRIMING_TOKENS = 3  # every conversation is primed with <|start|>assistant<|message|>


def _message_list(value: object) -> list[object] | None:
    return value if isinstance(value, list) and value else None


def check_preference(
    example: dict[str, object], line: int, *, messages: MessagesCheck, error: ErrorSink
) -> tuple[int, int] | None:
    """Tokens and assistant tokens of one preference pair, or None when it cannot be counted."""
    given = example.get("input")
    conversation = _message_list(given.get("messages")) if isinstance(given, dict) else None
    if conversation is None:
        error("missing_preference_input", line)
    preferred = _message_list(example.get("preferred_output"))
    rejected = _message_list(example.get("non_preferred_output"))
    if preferred is None or rejected is None:
        error("missing_preference_outputs", line)
    if conversation is None or preferred is None or rejected is None:
        return None
    total, assistant, _ = messages(conversation, line)
    for output in (preferred, rejected):
        if any(not isinstance(m, dict) or m.get("role") != "assistant" for m in output):
            error("preference_output_not_assistant", line)
        tokens, answer, _ = messages(output, line)
        total += tokens + PRIMING_TOKENS
        assistant += answer
    return total, assistant


def check_reinforcement(
    example: dict[str, object], line: int, *, messages: MessagesCheck, error: ErrorSink
) -> tuple[int, int] | None:
    """Tokens of one reinforcement item's prompt, or None when it cannot be counted."""
    conversation = _message_list(example.get("messages"))
    if conversation is None:
        error("missing_messages_list", line)
        return None
    total, assistant, _ = messages(conversation, line)
    return total + PRIMING_TOKENS, assistant
