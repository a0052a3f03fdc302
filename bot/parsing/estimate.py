"""/estimate: training from token counts, an OpenAI file or a Slack file; inference scenarios."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.parsing.args import (
    Args,
    Epochs,
    Help,
    UsageError,
    file_id_from_ref,
    is_openai_file_id,
    model_arg,
    parse_count,
    parse_date,
    parse_epochs,
    parse_percent_fraction,
    split_args,
    unwrap_link,
)


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


EstimateCommand = Help | TrainFromTokens | TrainFromOpenAIFile | TrainFromSlackFile | Inference


def parse_estimate(text: str) -> EstimateCommand:
    command = "/estimate"
    args = split_args(command, text)
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


def _parse_train(args: Args) -> EstimateCommand:
    command = args.command
    model = model_arg(args, 1, "e.g. `/estimate train gpt-4o-mini tokens=100k`")
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
        file_ref = unwrap_link(file_ref)
        if is_openai_file_id(file_ref):
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


def _parse_inference(args: Args) -> EstimateCommand:
    command = args.command
    model = model_arg(
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
