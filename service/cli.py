"""The ``ratecard`` command: terminal estimates, price tables, and the service processes.

This module is the composition root: it is the one place allowed to wire the service and the bot
together in one process. Errors go to stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from pricing.errors import PricingError
from service.cli_args import (
    EXIT_INVALID_DATA,
    EXIT_USAGE,
    CliError,
    OneLineParser,
    one_line,
    parse_date,
    parse_epochs,
    parse_hours,
    parse_non_negative_int,
    parse_override,
)
from service.cli_estimates import cmd_estimate_inference, cmd_estimate_train
from service.cli_models import add_commands as add_lifecycle_commands
from service.cli_prices import cmd_prices

__all__ = ["EXIT_INVALID_DATA", "EXIT_USAGE", "CliError", "build_parser", "main"]

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ratecard", description="Cost and rate-limit planning for OpenAI fine-tuning."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    est = sub.add_parser("estimate", help="estimate training or inference spend").add_subparsers(
        dest="kind", required=True
    )
    train = est.add_parser("train", help="training cost from a JSONL file or a token count")
    train.add_argument("file", nargs="?", help="training file (JSONL, chat or prompt/completion)")
    train.add_argument("--model", required=True)
    train.add_argument(
        "--tokens", type=parse_non_negative_int, help="billing tokens per epoch (instead of a file)"
    )
    train.add_argument(
        "--examples",
        type=parse_non_negative_int,
        help="number of examples (for --epochs auto with --tokens)",
    )
    train.add_argument("--epochs", type=parse_epochs, default="auto")
    train.add_argument("--as-of", type=parse_date, help="price date (default: today)")
    train.add_argument(
        "--method",
        choices=("supervised", "preference", "reinforcement"),
        default="supervised",
        help="fine-tuning method (reinforcement is billed per hour: give --hours)",
    )
    train.add_argument(
        "--hours", type=parse_hours, help="reinforcement: expected hours of training"
    )
    train.add_argument(
        "--hours-max", type=parse_hours, help="reinforcement: upper end of a range of hours"
    )
    train.add_argument(
        "--override",
        type=parse_override,
        action="append",
        default=[],
        metavar="FIELD=USD",
        help="contract price per 1M tokens, e.g. usd_per_1m_training_tokens=90",
    )
    train.add_argument("--json", action="store_true")
    train.set_defaults(func=cmd_estimate_train)

    inf = est.add_parser("inference", help="cost per request, day and month of a workload")
    inf.add_argument("--model", required=True)
    inf.add_argument("--prompt-tokens", type=parse_non_negative_int, required=True)
    inf.add_argument("--completion-tokens", type=parse_non_negative_int, required=True)
    inf.add_argument("--requests-per-day", type=parse_non_negative_int, required=True)
    inf.add_argument("--vs", help="comma-separated models to compare with the same workload")
    inf.add_argument("--as-of", type=parse_date)
    inf.add_argument(
        "--tier",
        type=str.lower,
        choices=("standard", "batch", "flex", "priority", "fast"),
        default="standard",
        help="processing tier (fast is priority)",
    )
    inf.add_argument(
        "--cached-tokens",
        type=parse_non_negative_int,
        default=0,
        help="of the prompt, tokens read from the prompt cache",
    )
    inf.add_argument(
        "--cache-write-tokens",
        type=parse_non_negative_int,
        default=0,
        help="of the prompt, tokens written to the prompt cache",
    )
    inf.add_argument(
        "--override", type=parse_override, action="append", default=[], metavar="FIELD=USD"
    )
    inf.add_argument("--json", action="store_true")
    inf.set_defaults(func=cmd_estimate_inference)

    prices = sub.add_parser("prices", help="price versions").add_subparsers(
        dest="prices_cmd", required=True
    )
    p_list = prices.add_parser("list")
    p_list.add_argument("--json", action="store_true")
    p_show = prices.add_parser("show")
    p_show.add_argument("--as-of", type=parse_date)
    p_show.add_argument("--version")
    p_show.add_argument("--model")
    p_show.add_argument("--json", action="store_true")
    p_diff = prices.add_parser("diff")
    p_diff.add_argument("from_version")
    p_diff.add_argument("to_version")
    p_diff.add_argument("--json", action="store_true")
    for p in (p_list, p_show, p_diff):
        p.set_defaults(func=cmd_prices)
    add_lifecycle_commands(sub, prices)

    _add_service_commands(sub)
    return parser


def _add_service_commands(sub: Any) -> None:
    """serve / watcher / bot: added here so `ratecard --help` lists them."""
    try:
        from service.commands import add_commands
    except ImportError:  # the service layer is optional for the pure estimate commands
        return
    add_commands(sub)
    from service.cli_planning import add_plan_commands

    add_plan_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except CliError as exc:
        sys.stderr.write(f"ratecard: {one_line(str(exc))}\n")
        return exc.code
    except PricingError as exc:
        sys.stderr.write(f"ratecard: {one_line(str(exc))}\n")
        return EXIT_INVALID_DATA
    except ValidationError as exc:  # RATECARD_* settings the service refuses
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        sys.stderr.write(f"ratecard: setting {where}: {one_line(first['msg'])}\n")
        return EXIT_USAGE
    except OSError as exc:  # a file that cannot be read (permissions, a directory, a FIFO...)
        sys.stderr.write(f"ratecard: {one_line(exc.strerror or str(exc))}: {exc.filename}\n")
        return EXIT_INVALID_DATA
    except BrokenPipeError:  # e.g. `ratecard prices diff ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("ratecard: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
