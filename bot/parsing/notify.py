"""/notify: follow a job, all jobs, a team's jobs or a family's tokens-per-minute; list; stop."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.parsing.args import Help, UsageError, parse_count, split_args

NotifyTarget = Literal["channel", "me"]


@dataclass(frozen=True)
class NotifyJob:
    job_id: str
    target: NotifyTarget = "channel"


@dataclass(frozen=True)
class NotifyAll:
    target: NotifyTarget = "channel"


@dataclass(frozen=True)
class NotifyTeam:
    team: str
    target: NotifyTarget = "channel"


@dataclass(frozen=True)
class NotifyTpm:
    family: str
    threshold_pct: int | None = None
    target: NotifyTarget = "channel"


@dataclass(frozen=True)
class NotifyFineTuning:
    """The countdown of the end of fine-tuning: every model, or one `ft:` model."""

    model: str | None = None
    target: NotifyTarget = "channel"


@dataclass(frozen=True)
class NotifyList:
    pass


@dataclass(frozen=True)
class NotifyOff:
    subscription_id: str


NotifyCommand = (
    Help
    | NotifyJob
    | NotifyAll
    | NotifyTeam
    | NotifyTpm
    | NotifyFineTuning
    | NotifyList
    | NotifyOff
)


def parse_notify(text: str) -> NotifyCommand:
    command = "/notify"
    args = split_args(command, text)
    words = list(args.positional)
    target: NotifyTarget = "channel"
    if any(w.lower() == "me" for w in words):
        target = "me"
        words = [w for w in words if w.lower() != "me"]
    if not words:
        if args.options:
            raise UsageError(
                command, "what should I follow? a job id, `all`, `team <name>` or `tpm <family>`"
            )
        if target == "me":
            raise UsageError(command, "`me` goes with what to follow, e.g. `/notify me job_123`")
        return Help(command)
    head = words[0].lower()
    if head in ("help", "-h", "--help", "?"):
        return Help(command)
    if head == "list":
        args.done("nothing")
        if len(words) > 1:
            raise UsageError(command, f"unexpected words: {' '.join(words[1:])}")
        return NotifyList()
    if head in ("off", "stop", "unsubscribe", "remove"):
        args.done("nothing")
        if len(words) != 2:
            raise UsageError(
                command, "which subscription? `/notify off sub_...` (ids are in `/notify list`)"
            )
        return NotifyOff(words[1])
    if head == "all":
        args.done("nothing")
        if len(words) > 1:
            raise UsageError(command, f"unexpected words: {' '.join(words[1:])}")
        return NotifyAll(target)
    if head == "team":
        args.done("nothing")
        if len(words) != 2:
            raise UsageError(command, "which team? `/notify team ml-platform`")
        return NotifyTeam(words[1], target)
    if head == "tpm":
        if len(words) != 2:
            raise UsageError(command, "which model family? `/notify tpm gpt-4o-mini at=80`")
        at_text = args.take("at")
        args.done("at=")
        at = None
        if at_text is not None:
            at = parse_count(command, "at", at_text.rstrip("%"), minimum=1, maximum=100)
        return NotifyTpm(words[1], at, target)
    if head in ("fine-tuning", "fine_tuning", "finetuning", "countdown"):
        args.done("nothing")
        if len(words) > 2 or (len(words) == 2 and not words[1].lower().startswith("ft:")):
            raise UsageError(command, "`/notify fine-tuning` or `/notify fine-tuning ft:...`")
        return NotifyFineTuning(words[1] if len(words) == 2 else None, target)
    if len(words) == 1 and re.fullmatch(r"(job_|ftjob-)[A-Za-z0-9_-]+", words[0]):
        args.done("nothing")
        return NotifyJob(words[0], target)
    raise UsageError(
        command,
        f"I don't know {words[0]!r}: give a job id (job_... or ftjob-...), `all`, "
        "`team <name>`, `tpm <family>`, `list` or `off <id>`",
    )
