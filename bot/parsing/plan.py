"""/plan: the organisation's fine-tuned models by days left, or what happens to one of them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.parsing.args import (
    MAX_TOKENS,
    Help,
    UsageError,
    parse_count,
    parse_percent_fraction,
    split_args,
)
from bot.parsing.usage import USAGE

COMMAND = "/plan"
TIERS = ("standard", "batch", "flex")
PLAN_USAGE = [
    "`/plan` · `/plan list [days=<1-31>]` — every fine-tuned model, fewest days left first",
    "`/plan <ft:model> [to=<model>,<model>] [cut=90%] [add=<tokens>] [answer=<tokens>] "
    "[tier=standard|batch|flex]` — the countdown and the cost and rate-limit fit of moving it "
    "(OpenAI's recommended replacement is always one of the scenarios)",
    "`[per_day=<requests> prompt=<tokens> completion=<tokens>]` — price a volume instead of "
    "the observed traffic; `days=<N>` averages traffic over N days (default 7)",
]
# Registered from here so the command's help lives beside its parser.
USAGE.setdefault(COMMAND, PLAN_USAGE)


@dataclass(frozen=True)
class PlanList:
    days: int | None = None


@dataclass(frozen=True)
class Volume:
    requests_per_day: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class PlanModel:
    model: str
    to: tuple[str, ...] = ()
    prompt_cut_pct: Decimal | None = None
    added_prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tier: str = "standard"
    volume: Volume | None = None
    days: int | None = None


PlanCommand = Help | PlanList | PlanModel


def _days(text: str | None) -> int | None:
    return None if text is None else parse_count(COMMAND, "days", text, minimum=1, maximum=31)


def parse_plan(text: str) -> PlanCommand:
    args = split_args(COMMAND, text)
    words = list(args.positional)
    if not words and not args.options:
        return PlanList()
    head = words[0].lower() if words else ""
    if head in ("help", "-h", "--help", "?"):
        return Help(COMMAND)
    if head in ("list", "ls", "all", ""):
        days = _days(args.take("days"))
        args.done("days=")
        if len(words) > 1:
            raise UsageError(COMMAND, f"unexpected words: {' '.join(words[1:])}")
        return PlanList(days)
    if len(words) > 1:
        raise UsageError(COMMAND, f"one model at a time; unexpected: {' '.join(words[1:])}")
    model = words[0]
    if not (model.lower().startswith("ft:") or ":ft-" in model.lower()):
        raise UsageError(
            COMMAND, f"{model!r} is not a fine-tuned model: give its full `ft:...` name"
        )
    to = tuple(m for m in (args.take("to") or "").replace(" ", ",").split(",") if m)
    cut_text = args.take("cut")
    add_text = args.take("add")
    if cut_text is not None and add_text is not None:
        raise UsageError(COMMAND, "give cut= (how much the prompt was cut) or add=, not both")
    cut = None if cut_text is None else parse_percent_fraction(COMMAND, cut_text) * 100
    add = None if add_text is None else parse_count(COMMAND, "add", add_text, maximum=10**7)
    answer_text = args.take("answer")
    answer = None if answer_text is None else parse_count(COMMAND, "answer", answer_text)
    tier = (args.take("tier") or "standard").lower()
    if tier not in TIERS:
        raise UsageError(COMMAND, f"tier= is standard, batch or flex, not {tier!r}")
    per_day, prompt, completion = (args.take(k) for k in ("per_day", "prompt", "completion"))
    volume = None
    if per_day is not None or prompt is not None or completion is not None:
        if per_day is None or prompt is None or completion is None:
            raise UsageError(COMMAND, "a volume needs per_day=, prompt= and completion= together")
        volume = Volume(
            parse_count(COMMAND, "per_day", per_day, maximum=MAX_TOKENS),
            parse_count(COMMAND, "prompt", prompt, maximum=10**7),
            parse_count(COMMAND, "completion", completion, maximum=10**7),
        )
    days = _days(args.take("days"))
    args.done("to=, cut=, add=, answer=, tier=, per_day=, prompt=, completion=, days=")
    return PlanModel(model, to, cut, add, answer, tier, volume, days)
