"""Failures said plainly: the service's problem responses, Slack file problems, our own bugs."""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks.base import (
    MAX_LINES_SHOWN,
    Message,
    context,
    esc,
    exact,
    message,
    section,
    usd,
)
from service.client import ServiceClientError


def _lines(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:MAX_LINES_SHOWN])
    return shown + ("…" if len(lines) > MAX_LINES_SHOWN else "")


def service_error(err: ServiceClientError) -> Message:
    """A problem response, said plainly with the figures the user needs to act."""
    x = err.extra
    if err.code == "over_budget":
        title = "Over budget"
        team = f"team *{esc(x['team'])}*" if x.get("team") else "the team"
        body = (
            f"This run is estimated at *{usd(x.get('estimate_usd'))}*, but {team} has "
            f"{usd(x.get('remaining_usd'))} left of its {usd(x.get('monthly_budget_usd'))} "
            f"monthly budget (spent {usd(x.get('spent_usd'))})."
        )
        exact_line = f"Exact estimate {exact(x.get('estimate_usd'))}"
    elif err.code == "format_errors" or x.get("format_errors"):
        title = "The training file has format errors"
        rows = [
            f"• *{esc(e.get('kind', '?'))}* ({e.get('count', '?')}): {esc(e.get('message', ''))}"
            + (f" — line {_lines(e['lines'])}" if e.get("lines") else "")
            for e in x.get("format_errors", [])[:10]
        ]
        body = "\n".join(rows) or esc(err.detail)
        exact_line = "Fix these lines and try again."
    elif err.code == "fine_tuning_closed":
        title = "OpenAI will not accept this fine-tuning job"
        body = esc(err.detail)
        exact_line = (
            f"OpenAI recommends `{esc(x['replacement'])}` instead; nothing was sent to OpenAI."
            if x.get("replacement")
            else "Nothing was sent to OpenAI."
        )
    elif err.code == "insufficient_quota":
        title = "OpenAI quota exhausted"
        body = (
            f"OpenAI refused the job: the organisation has run out of quota ({esc(err.detail)}). "
            "Add credit or raise the usage limit in OpenAI's billing settings, then try again."
        )
        exact_line = ""
    elif err.code == "openai_rejected":
        title = "OpenAI rejected the job"
        body = esc(err.detail)
        exact_line = f"parameter: {esc(x['param'])}" if x.get("param") else ""
    elif x.get("suggestions") is not None and "model" in x:
        title = "Unknown model"
        suggestions = x.get("suggestions") or []
        body = f"I don't know the model `{esc(x['model'])}`." + (
            " Did you mean " + ", ".join(f"`{esc(s)}`" for s in suggestions[:5]) + "?"
            if suggestions
            else ""
        )
        exact_line = ""
    elif err.code == "openai_not_configured":
        # A setup problem, not an outage: waiting will not fix it, and the user cannot either.
        title = "ratecard has no OpenAI API key configured"
        body = (
            "So it cannot read OpenAI files or launch jobs. Ask the ratecard operator to set "
            "RATECARD_OPENAI_API_KEY. Estimates from token counts "
            "(`/estimate train <model> tokens=<n>`) work without it."
        )
        exact_line = ""
    elif err.status in (401, 403):
        title = "The bot's API key was refused"
        body = (
            f"{esc(err.detail)}. An admin needs to check the bot's key (RATECARD_SERVICE_API_KEY)."
        )
        exact_line = ""
    elif err.status >= 500:
        title = "ratecard is not answering properly"
        body = f"{esc(err.detail)}. Nothing was changed; try again in a minute."
        exact_line = ""
    else:
        title = err.title
        body = esc(err.detail)
        exact_line = ""
    blocks = [section(f":warning: *{esc(title)}*\n{body}")]
    if exact_line:
        blocks.append(context(exact_line))
    repeats = err.detail.lower().startswith(title.lower())
    fallback = err.detail if repeats else f"{title}: {err.detail}"
    return message(fallback, blocks, response_type="ephemeral", replace_original=False)


def unexpected_error(reference: str) -> Message:
    return message(
        "Something went wrong on our side.",
        [
            section(":boom: Something went wrong on our side; it has been logged."),
            context(f"reference `{esc(reference)}`"),
        ],
        response_type="ephemeral",
        replace_original=False,
    )


def slack_file_problem(text: str) -> Message:
    return message(text, [section(f":page_facing_up: {esc(text)}")], response_type="ephemeral")
