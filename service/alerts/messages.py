"""Slack messages for events, built by pure functions: Block Kit plus a plain-text fallback.

The fallback is what notifications and screen readers show, so it carries the essentials on its
own. Money is shown to people with 2 decimals (pricing.money.display_usd); the JSON figures in
the event payload keep their full precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pricing.money import display_usd

HEADER_LIMIT = 150  # Block Kit: header plain_text
TEXT_LIMIT = 3000  # Block Kit: section text
FIELD_LIMIT = 2000  # Block Kit: each section field
ERROR_LIMIT = 1500

_JOB_STATUS = {
    "succeeded": (":white_check_mark:", "succeeded"),
    "failed": (":x:", "failed"),
    "cancelled": (":no_entry_sign:", "was cancelled"),
}


@dataclass(frozen=True)
class SlackMessage:
    text: str
    blocks: list[dict[str, Any]]


def render_event(kind: str, subject: str, payload: dict[str, Any]) -> SlackMessage:
    if kind == "job.finished":
        return job_finished_message(payload)
    if kind == "tpm.threshold":
        return tpm_threshold_message(payload)
    if kind in ("fine_tune.countdown", "fine_tune.after_shutdown", "fine_tuning.closing"):
        return fine_tuning_message(kind, payload)
    if kind == "billing.summary":
        from service.billing.summary import summary_message  # billing builds on alerts

        return summary_message(payload)
    text = f"ratecard event {kind} for {subject}"
    return SlackMessage(text=text, blocks=[_section(escape(text))])


def job_finished_message(job: dict[str, Any]) -> SlackMessage:
    status = str(job.get("status") or "finished")
    emoji, verb = _JOB_STATUS.get(status, (":information_source:", status))
    name = str(job.get("openai_job_id") or job.get("id") or "job")
    base = str(job.get("model") or job.get("requested_model") or "unknown model")
    fine_tuned = job.get("fine_tuned_model")
    duration = format_duration(job.get("duration_seconds"))
    tokens = format_count(job.get("trained_tokens"))
    actual = _money(job.get("actual_cost_usd"))
    estimate = _money(job.get("estimated_cost_usd"))
    difference = _difference(job)
    error = job.get("error") if isinstance(job.get("error"), dict) else None

    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "emoji": True,
                "text": _cut(f"{emoji} Fine-tuning job {verb}", HEADER_LIMIT),
            },
        },
        _section(_who(job, name, base)),
    ]
    if status == "succeeded" and fine_tuned:
        blocks.append(_section(f"*Model to use*\n`{escape(str(fine_tuned))}`"))
    fields = [f"*Duration*\n{duration or 'unknown'}"]
    if tokens is not None:
        fields.append(f"*Trained tokens*\n{tokens}")
    fields.append(f"*Actual cost*\n{actual or 'not known yet'}")
    fields.append(f"*Estimate*\n{estimate or 'none'}")
    if difference is not None:
        fields.append(f"*Difference*\n{difference}")
    blocks.append(
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _cut(f, FIELD_LIMIT)} for f in fields],
        }
    )
    if error:
        blocks.append(_section(_error_text(error)))
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": escape(f"ratecard {job.get('id') or name}")}],
        }
    )

    text = f"Fine-tuning job {name} ({base}) {verb}"
    if status == "succeeded" and fine_tuned:
        text += f": use {fine_tuned}"
    details = [
        d
        for d in (
            duration and f"took {duration}",
            tokens and f"{tokens} trained tokens",
            actual
            and f"cost {actual}"
            + (f" (estimate {estimate}, {difference})" if estimate and difference else ""),
        )
        if d
    ]
    if details:
        text += "; " + ", ".join(details)
    if error:
        message = _cut(str(error.get("message") or ""), ERROR_LIMIT)
        text += f". Error {error.get('code') or ''}: {message}"
    return SlackMessage(text=_cut(text, TEXT_LIMIT), blocks=blocks)


def tpm_threshold_message(p: dict[str, Any]) -> SlackMessage:
    family = str(p.get("family") or "unknown")
    org = p.get("org")
    above = p.get("state") == "above"
    utilisation = f"{p.get('utilisation_pct')}%"
    threshold = f"{p.get('threshold_pct')}%"
    tpm = _of(p.get("tokens_per_minute"), p.get("limit_tokens_per_minute"))
    rpm = _of(p.get("requests_per_minute"), p.get("limit_requests_per_minute"))
    if above:
        title = f":warning: {family} rate-limit pool above {threshold}"
        summary = (
            f"*{escape(family)}* is using *{escape(utilisation)}* of its tokens-per-minute limit "
            f"(alert threshold {escape(threshold)}). Every `ft:` model built on {escape(family)} "
            "draws from this pool, so new traffic may be throttled."
        )
        text = (
            f"{family} TPM pool at {utilisation} of its limit (threshold {threshold}): "
            f"{tpm} tokens/min"
        )
    else:
        title = f":large_green_circle: {family} rate-limit pool back below {threshold}"
        summary = (
            f"*{escape(family)}* is back to *{escape(utilisation)}* of its tokens-per-minute limit."
        )
        text = f"{family} TPM pool back below {threshold}: {utilisation}, {tpm} tokens/min"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "emoji": True, "text": _cut(title, HEADER_LIMIT)},
        },
        _section(summary),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Tokens per minute*\n{tpm}"},
                {"type": "mrkdwn", "text": f"*Requests per minute*\n{rpm}"},
            ],
        },
    ]
    if org:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": escape(f"organisation {org}")}],
            }
        )
    return SlackMessage(text=text, blocks=blocks)


def fine_tuning_message(kind: str, p: dict[str, Any]) -> SlackMessage:
    """The countdown of the end of fine-tuning (service.planning.alerts)."""
    model = str(p.get("model") or "")
    instead = f" OpenAI recommends {p['replacement']}." if p.get("replacement") else ""
    if kind == "fine_tuning.closing":
        days = p.get("days_left")
        title = f":hourglass: New fine-tuning jobs stop in {days} day{'s' if days != 1 else ''}"
        text = (
            f"OpenAI accepts no new fine-tuning job from {p.get('closes_on')}: the last day to "
            f"launch one is {p.get('last_day')}. The organisation has "
            f"{p.get('fine_tuned_models')} fine-tuned model(s)."
        )
    elif kind == "fine_tune.after_shutdown":
        title = f":rotating_light: {model} is shut down but still called"
        text = (
            f"{model} stopped answering on {p.get('shutdown_date')} with its base {p.get('base')}, "
            f"yet {p.get('requests_since_shutdown')} request(s) reached it since: they are "
            f"failing.{instead}"
        )
    else:
        days = p.get("days_left")
        title = f":hourglass_flowing_sand: {model}: {days} day{'s' if days != 1 else ''} left"
        text = (
            f"{model} stops answering on {p.get('shutdown_date')}, when its base {p.get('base')} "
            f"shuts down; it serves about {p.get('requests_per_day')} requests a day.{instead} "
            "See `/plan` for the cost of moving it."
        )
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "emoji": True, "text": _cut(title, HEADER_LIMIT)},
        },
        _section(escape(text)),
    ]
    return SlackMessage(text=_cut(f"{title}: {text}", TEXT_LIMIT), blocks=blocks)


def escape(text: str) -> str:
    """Slack mrkdwn control characters; other text (OpenAI error messages) must not ping or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_duration(seconds: Any) -> str | None:
    try:
        total = int(Decimal(str(seconds)))
    except (InvalidOperation, ValueError, TypeError):
        return None
    if total < 0:
        return None
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_count(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,}"


def _of(used: Any, limit: Any) -> str:
    return f"{format_count(used) or '?'} of {format_count(limit) or '?'}"


def _money(value: Any) -> str | None:
    amount = _decimal(value)
    return None if amount is None else display_usd(amount)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, (bool, float)):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _difference(job: dict[str, Any]) -> str | None:
    actual, estimate = _decimal(job.get("actual_cost_usd")), _decimal(job.get("estimated_cost_usd"))
    given = _decimal(job.get("cost_difference_usd"))
    diff = (
        given
        if given is not None
        else (actual - estimate if actual is not None and estimate is not None else None)
    )
    if diff is None:
        return None
    sign = "-" if diff < 0 else "+"
    shown = f"{sign}{display_usd(abs(diff))}"
    if estimate:
        shown += f" ({sign}{abs(diff) / estimate * 100:.1f}%)"
    return shown


def _who(job: dict[str, Any], name: str, base: str) -> str:
    line = f"*{escape(name)}* on *{escape(base)}*"
    if job.get("suffix"):
        line += f" (suffix `{escape(str(job['suffix']))}`)"
    if job.get("team"):
        line += f" for team *{escape(str(job['team']))}*"
    launched_by = str(job.get("launched_by") or "")
    if launched_by.startswith("slack:") and launched_by[6:].isalnum():
        line += f", launched by <@{launched_by[6:]}>"
    elif launched_by:
        line += f", launched by {escape(launched_by)}"
    return _cut(line, TEXT_LIMIT)


def _error_text(error: dict[str, Any]) -> str:
    code = escape(str(error.get("code") or "error"))
    message = escape(_cut(str(error.get("message") or "no message"), ERROR_LIMIT))
    text = f"*Error* `{code}`: {message}"
    if error.get("param"):
        text += f" (param `{escape(str(error['param']))}`)"
    return _cut(text, TEXT_LIMIT)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, TEXT_LIMIT)}}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
