"""/launch: a model, an OpenAI training file and the job's hyperparameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from bot.parsing.args import (
    Epochs,
    Help,
    UsageError,
    is_openai_file_id,
    model_arg,
    parse_count,
    parse_epochs,
    split_args,
)


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
    method: Literal["supervised", "preference"] = "supervised"

    def hyperparameters(self) -> dict[str, object]:
        lr = self.learning_rate_multiplier
        return {
            "n_epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": lr if lr == "auto" else float(lr),
        }


LaunchCommand = Help | Launch


def parse_launch(text: str) -> LaunchCommand:
    command = "/launch"
    args = split_args(command, text)
    if not args.positional and not args.options:
        return Help(command)
    if args.positional and args.positional[0].lower() in ("help", "-h", "--help", "?"):
        return Help(command)
    model = model_arg(args, 0, "e.g. `/launch gpt-4o-mini file-abc123`")
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
    if not is_openai_file_id(training):
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
    if validation is not None and not is_openai_file_id(validation):
        raise UsageError(
            command, f"validation= must be an OpenAI file id (file-...), not {validation!r}"
        )
    team = args.take("team")
    if team is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", team):
        raise UsageError(command, "team= is up to 100 letters, digits, ., - and _")
    method = parse_method(command, args.take("method"))
    args.done("epochs=, batch_size=, lr=, suffix=, validation=, team=, method=")
    return Launch(model, training, epochs, batch, lr, suffix or None, validation, team, method)


def parse_method(command: str, text: str | None) -> Literal["supervised", "preference"]:
    value = (text or "supervised").lower()
    if value in ("preference", "dpo"):
        return "preference"
    if value == "supervised":
        return "supervised"
    if value == "reinforcement":
        # A reinforcement job needs OpenAI's grader object, which a slash command cannot carry.
        raise UsageError(
            command,
            "reinforcement jobs need a grader: launch them with POST /v1/jobs "
            '("method": "reinforcement", "grader": {...}, "training_hours": ...)',
        )
    raise UsageError(command, f"method= is supervised or preference, not {text!r}")
