"""What every Block Kit message shares: escaping, money, the block builders, mentions.

Every message carries a plain-text fallback (`text`, what notifications and screen readers show).
Money is shown with 2 decimals through pricing.money.display_usd, the documented display rule;
the service's full-precision decimal string is kept in a context line beneath.
Layouts are one column of short sections so they read on a phone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pricing.money import display_usd

Message = dict[str, Any]
Block = dict[str, Any]

LAUNCH_ACTION = "launch_confirm"
CANCEL_ACTION = "launch_cancel"
MAX_SECTION_CHARS = 2900  # Slack refuses section text above 3000 characters
MAX_LINES_SHOWN = 8
# Lifecycle notices (closing dates, shutdowns) come with the other warnings; keep room for them.
MAX_WARNINGS = 8


def esc(text: object) -> str:
    """Escape user-supplied text for mrkdwn (Slack's three control characters)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def usd(amount: str | Decimal | None) -> str:
    """Money for people: 2 decimals ('$2.40'); '—' when the service did not know it."""
    if amount is None or amount == "":
        return "—"
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(amount)
    except InvalidOperation:
        return esc(amount)
    return display_usd(value)


def exact(amount: str | None) -> str:
    return "—" if amount is None else f"${amount}"


def mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text[:MAX_SECTION_CHARS]}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def fields(pairs: Sequence[tuple[str, str]]) -> Block:
    return {"type": "section", "fields": [mrkdwn(f"*{k}*\n{v}") for k, v in pairs[:10]]}


def context(*parts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(p) for p in parts if p][:10]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def message(fallback: str, blocks: Iterable[Block], **extra: Any) -> Message:
    return {"text": fallback, "blocks": list(blocks)[:50], **extra}


def mention(slack_id: str) -> str:
    """<@U..> for people, <#C..> for channels; a DM id reads as 'this DM'."""
    if slack_id[:1] in ("U", "W"):
        return f"<@{slack_id}>"
    if slack_id[:1] == "D":
        return "this DM"
    return f"<#{slack_id}>"


def count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"
