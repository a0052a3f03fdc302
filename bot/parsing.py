"""Slash-command text -> typed requests. Pure: no Slack, no network, no clock.

Anything that does not parse raises `UsageError` with a sentence the user can act on; the
listener answers it together with the command's usage, never with silence.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal
from urllib.parse import urlsplit

Epochs = int | Literal["auto"]
COMMANDS = ("/estimate", "/launch", "/notify")
MAX_TOKENS = 10**12
FILE_ID = re.compile(r"F[A-Z0-9]{6,}")
# files-pri/T0123-F0456/name.jsonl and /files/U0123/F0456/name.jsonl (permalinks)
_LINK_ID = re.compile(r"(?:-|/)(F[A-Z0-9]{6,})(?:/|$)")
SLACK_FILE_HOSTS = ("slack.com", "slack-edge.com", "slack-files.com")


class UsageError(ValueError):
    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command
        self.message = message


@dataclass(frozen=True)
class Help:
    command: str


@dataclass(frozen=True)
class TrainFromTokens:
    model: str
    tokens: int
    epochs: Epochs = "auto"
    examples: int | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class TrainFromOpenAIFile:
    model: str
    file_id: str
    epochs: Epochs = "auto"


@dataclass(frozen=True)
class TrainFromSlackFile:
    """A JSONL file shared in Slack: by id (F...), by link, or None: the user's latest here."""

    model: str
    file_ref: str | None = None
    epochs: Epochs = "auto"
    as_of: date | None = None


@dataclass(frozen=True)
class Inference:
    model: str
    prompt_tokens: int
    completion_tokens: int
    requests_per_day: int
    vs: tuple[str, ...] = ()
    prompt_cut: Decimal | None = None
    training_tokens: int | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class Launch:
    model: str
    training_file: str
    epochs: Epochs = "auto"
    batch_size: int | Literal["auto"] = "auto"
    learning_rate_multiplier: Decimal | Literal["auto"] = "auto"
    suffix: str | None = None
    validation_file: str | None = None
    team: str | None = None

    def hyperparameters(self) -> dict[str, object]:
        lr = self.learning_rate_multiplier
        return {
            "n_epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": lr if lr == "auto" else float(lr),
        }


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
class NotifyList:
    pass


@dataclass(frozen=True)
class NotifyOff:
    subscription_id: str


EstimateCommand = Help | TrainFromTokens | TrainFromOpenAIFile | TrainFromSlackFile | Inference
LaunchCommand = Help | Launch
NotifyCommand = Help | NotifyJob | NotifyAll | NotifyTeam | NotifyTpm | NotifyList | NotifyOff


@dataclass
class _Args:
    command: str
    positional: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    def take(self, key: str) -> str | None:
        return self.options.pop(key, None)

    def done(self, allowed: str) -> None:
        if self.options:
            unknown = ", ".join(f"{k}=" for k in sorted(self.options))
            raise UsageError(self.command, f"unknown option {unknown}; this form takes {allowed}")


_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_ALIASES = {
    "as-of": "as_of",
    "asof": "as_of",
    "per-day": "per_day",
    "perday": "per_day",
    "rpd": "per_day",
    "validation_file": "validation",
    "val": "validation",
    "n_epochs": "epochs",
    "lr": "learning_rate",
    "learning_rate_multiplier": "learning_rate",
    "batch": "batch_size",
    "threshold": "at",
    "train_tokens": "training_tokens",
    "prompt_tokens": "prompt",
    "completion_tokens": "completion",
    "requests_per_day": "per_day",
    "fine_tune_prompt_cut": "cut",
}


def _split(command: str, text: str) -> _Args:
    # Slack's clients turn straight quotes into curly ones; shlex only knows the straight kind.
    try:
        words = shlex.split((text or "").translate(_QUOTES))
    except ValueError as exc:
        raise UsageError(
            command, f"could not read the arguments ({exc}); check the quotes"
        ) from None
    args = _Args(command)
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
            name = key.lower()
            name = _ALIASES.get(name, name)
            if name in args.options:
                raise UsageError(command, f"{key}= is given twice")
            args.options[name] = value
        else:
            args.positional.append(word)
    return args


def _unwrap_link(value: str) -> str:
    """Slack escapes links as <url> or <url|label>; keep the url."""
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1].split("|", 1)[0]
    return value


def parse_count(
    command: str, name: str, text: str, *, minimum: int = 0, maximum: int = MAX_TOKENS
) -> int:
    """Whole numbers as people type them: 100000, 100_000, 100,000, 100k, 1.5M."""
    cleaned = text.strip().replace("_", "").replace(",", "").lower()
    multiplier = 1
    if cleaned[-1:] in ("k", "m", "b"):
        multiplier = {"k": 10**3, "m": 10**6, "b": 10**9}[cleaned[-1]]
        cleaned = cleaned[:-1]
    try:
        value = Decimal(cleaned) * multiplier
    except InvalidOperation:
        raise UsageError(
            command, f"{name}= must be a whole number (like 100000 or 100k), not {text!r}"
        ) from None
    if not value.is_finite() or value != value.to_integral_value():
        raise UsageError(command, f"{name}= must be a whole number, not {text!r}")
    if not minimum <= value <= maximum:
        raise UsageError(
            command, f"{name}= must be between {minimum:,} and {maximum:,}, not {text}"
        )
    return int(value)


def parse_epochs(command: str, text: str | None) -> Epochs:
    if text is None or text.lower() == "auto":
        return "auto"
    if not text.isdigit() or not 1 <= int(text) <= 50:
        raise UsageError(command, f"epochs= must be 1-50 or auto, not {text!r}")
    return int(text)


def parse_date(command: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(command, f"as_of= must be a date like 2024-05-01, not {text!r}") from None


def parse_percent_fraction(command: str, text: str) -> Decimal:
    """cut=90%, cut=90 or cut=0.9 all mean a 90% shorter prompt."""
    raw = text.strip().rstrip("%")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise UsageError(
            command, f"cut= must be a percentage like 90% or a fraction like 0.9, not {text!r}"
        ) from None
    if text.strip().endswith("%") or value > 1:
        value = value / 100
    if not value.is_finite() or not 0 <= value < 1:
        raise UsageError(command, f"cut= must be at least 0% and below 100%, not {text!r}")
    return value


def _model(args: _Args, position: int, usage_hint: str) -> str:
    if len(args.positional) <= position:
        raise UsageError(args.command, f"which model? {usage_hint}")
    model = args.positional[position]
    if len(model) > 200:
        raise UsageError(args.command, "that model name is too long")
    return model


def file_id_from_ref(ref: str) -> str | None:
    """The Slack file id in an id or a Slack file link; None for anything else (never fetched)."""
    if FILE_ID.fullmatch(ref):
        return ref
    parts = urlsplit(ref)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and any(
        host == h or host.endswith("." + h) for h in SLACK_FILE_HOSTS
    ):
        match = _LINK_ID.search(parts.path)
        if match:
            return match.group(1)
    return None


def _is_openai_file_id(value: str) -> bool:
    return value.startswith("file-")


def parse_estimate(text: str) -> EstimateCommand:
    command = "/estimate"
    args = _split(command, text)
    if not args.positional and not args.options:
        return Help(command)
    kind = args.positional[0].lower() if args.positional else ""
    if kind in ("help", "-h", "--help", "?"):
        return Help(command)
    if kind in ("train", "training", "ft", "fine-tune"):
        return _parse_train(args)
    if kind in ("inference", "infer", "inf", "run"):
        return _parse_inference(args)
    raise UsageError(command, f"unknown estimate {kind or 'form'!r}: use `train` or `inference`")


def _parse_train(args: _Args) -> EstimateCommand:
    command = args.command
    model = _model(args, 1, "e.g. `/estimate train gpt-4o-mini tokens=100k`")
    if len(args.positional) > 3:
        raise UsageError(command, f"unexpected words: {' '.join(args.positional[3:])}")
    epochs = parse_epochs(command, args.take("epochs"))
    as_of = parse_date(command, args.take("as_of"))
    tokens = args.take("tokens")
    file_ref = args.take("file")
    if len(args.positional) == 3:  # `/estimate train gpt-4o-mini file-abc` without the `file=`
        if file_ref is not None:
            raise UsageError(command, f"unexpected word {args.positional[2]!r}")
        file_ref = args.positional[2]
    if tokens is not None and file_ref is not None:
        raise UsageError(command, "give tokens= or file=, not both")
    if tokens is not None:
        examples = args.take("examples")
        args.done("epochs=, examples=, as_of=")
        return TrainFromTokens(
            model,
            parse_count(command, "tokens", tokens),
            epochs,
            None if examples is None else parse_count(command, "examples", examples, minimum=1),
            as_of,
        )
    if file_ref is not None:
        file_ref = _unwrap_link(file_ref)
        if _is_openai_file_id(file_ref):
            if as_of is not None:
                raise UsageError(
                    command, "as_of= is not available with an OpenAI file id (prices as of today)"
                )
            args.done("epochs=")
            return TrainFromOpenAIFile(model, file_ref, epochs)
        if file_id_from_ref(file_ref) is None:
            raise UsageError(
                command,
                f"file= takes an OpenAI file id (file-...), a Slack file id (F...) "
                f"or a Slack file link, not {file_ref!r}",
            )
        args.done("epochs=, as_of=")
        return TrainFromSlackFile(model, file_ref, epochs, as_of)
    args.done("tokens=, file=, epochs=, examples=, as_of=")
    return TrainFromSlackFile(model, None, epochs, as_of)


def _parse_inference(args: _Args) -> EstimateCommand:
    command = args.command
    model = _model(
        args, 1, "e.g. `/estimate inference gpt-4o-mini prompt=1500 completion=200 per_day=10k`"
    )
    if len(args.positional) > 2:
        raise UsageError(command, f"unexpected words: {' '.join(args.positional[2:])}")
    missing = [k for k in ("prompt", "completion", "per_day") if k not in args.options]
    if missing:
        raise UsageError(command, "inference needs " + ", ".join(f"{k}=" for k in missing))
    prompt = parse_count(command, "prompt", args.take("prompt") or "")
    completion = parse_count(command, "completion", args.take("completion") or "")
    per_day = parse_count(command, "per_day", args.take("per_day") or "", maximum=10**10)
    vs_text = args.take("vs")
    vs = tuple(m.strip() for m in (vs_text or "").split(",") if m.strip())
    if len(vs) > 10:
        raise UsageError(command, "vs= compares at most 10 models")
    cut_text = args.take("cut")
    cut = None if cut_text is None else parse_percent_fraction(command, cut_text)
    training_text = args.take("training_tokens")
    training = (
        None if training_text is None else parse_count(command, "training_tokens", training_text)
    )
    as_of = parse_date(command, args.take("as_of"))
    args.done("prompt=, completion=, per_day=, vs=, cut=, training_tokens=, as_of=")
    if training is not None and cut is None and not any(m.startswith("ft:") for m in (model, *vs)):
        raise UsageError(
            command,
            "training_tokens= is for break-even: add cut=90% (a fine-tuned scenario) "
            "or a vs= ft: model",
        )
    return Inference(model, prompt, completion, per_day, vs, cut, training, as_of)


def parse_launch(text: str) -> LaunchCommand:
    command = "/launch"
    args = _split(command, text)
    if not args.positional and not args.options:
        return Help(command)
    if args.positional and args.positional[0].lower() in ("help", "-h", "--help", "?"):
        return Help(command)
    model = _model(args, 0, "e.g. `/launch gpt-4o-mini file-abc123`")
    training = args.take("file") or args.take("training_file")
    if len(args.positional) >= 2:
        if training is not None:
            raise UsageError(command, "give the training file once")
        training = args.positional[1]
    if len(args.positional) > 2:
        raise UsageError(command, f"unexpected words: {' '.join(args.positional[2:])}")
    if not training:
        raise UsageError(
            command,
            "which training file? give its OpenAI id, e.g. `/launch gpt-4o-mini file-abc123`",
        )
    if not _is_openai_file_id(training):
        raise UsageError(
            command,
            f"the training file must be an OpenAI file id (file-...), not {training!r}; "
            "upload it with the Files API first",
        )
    epochs = parse_epochs(command, args.take("epochs"))
    batch_text = args.take("batch_size")
    batch: int | Literal["auto"] = "auto"
    if batch_text is not None and batch_text.lower() != "auto":
        batch = parse_count(command, "batch_size", batch_text, minimum=1, maximum=256)
    lr_text = args.take("learning_rate")
    lr: Decimal | Literal["auto"] = "auto"
    if lr_text is not None and lr_text.lower() != "auto":
        try:
            lr = Decimal(lr_text)
        except InvalidOperation:
            lr = Decimal(-1)
        if not lr.is_finite() or not 0 < lr <= 10:
            raise UsageError(
                command, f"lr= must be a number above 0 and at most 10, or auto, not {lr_text!r}"
            )
    suffix = args.take("suffix")
    if suffix is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", suffix):
        raise UsageError(command, "suffix= is up to 64 letters, digits, - and _")
    validation = args.take("validation")
    if validation is not None and not _is_openai_file_id(validation):
        raise UsageError(
            command, f"validation= must be an OpenAI file id (file-...), not {validation!r}"
        )
    team = args.take("team")
    if team is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", team):
        raise UsageError(command, "team= is up to 100 letters, digits, ., - and _")
    args.done("epochs=, batch_size=, lr=, suffix=, validation=, team=")
    return Launch(model, training, epochs, batch, lr, suffix or None, validation, team)


def parse_notify(text: str) -> NotifyCommand:
    command = "/notify"
    args = _split(command, text)
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
    if len(words) == 1 and re.fullmatch(r"(job_|ftjob-)[A-Za-z0-9_-]+", words[0]):
        args.done("nothing")
        return NotifyJob(words[0], target)
    raise UsageError(
        command,
        f"I don't know {words[0]!r}: give a job id (job_... or ftjob-...), `all`, "
        "`team <name>`, `tpm <family>`, `list` or `off <id>`",
    )


USAGE: dict[str, list[str]] = {
    "/estimate": [
        "`/estimate train <model> tokens=<N> [epochs=<N|auto>] [examples=<N>] "
        "[as_of=<YYYY-MM-DD>]`",
        "`/estimate train <model> file=<OpenAI file id>` — counts an uploaded training file",
        "`/estimate train <model>` — counts the JSONL file you last shared in this channel "
        "(or `file=<Slack file id or link>`)",
        "`/estimate inference <model> prompt=<tokens> completion=<tokens> per_day=<requests> "
        "[vs=<model>,<model>] [cut=90%] [training_tokens=<N>]` — side by side, with break-even",
    ],
    "/launch": [
        "`/launch <model> <training file id> [epochs=<N|auto>] [suffix=<name>] "
        "[validation=<file id>] "
        "[team=<team>] [batch_size=<N>] [lr=<multiplier>]`",
        "Shows the estimate and the team's remaining budget; nothing starts until "
        "you press *Launch*.",
    ],
    "/notify": [
        "`/notify <job id>` — this channel hears when the job finishes "
        "(`me` for a DM: `/notify me <job id>`)",
        "`/notify all` · `/notify team <name>` — every job, or a team's jobs",
        "`/notify tpm <family> [at=<percent>]` — tokens-per-minute threshold alerts",
        "`/notify list` · `/notify off <subscription id>`",
    ],
}
