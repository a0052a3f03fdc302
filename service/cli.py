"""The ``ratecard`` command: terminal estimates, price tables, and the service processes.

This module is the composition root: it is the one place allowed to wire the service and the bot
together in one process. Errors go to stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pricing.catalogue import load_catalogue
from pricing.errors import PricingError
from pricing.estimate import (
    InferenceEstimate,
    Workload,
    compare_scenarios,
    estimate_inference,
)
from pricing.lifecycle import load_lifecycle
from pricing.money import display_usd, format_usd
from pricing.prices import Override, load_builtin_price_book, validate_override
from pricing.serialize import (
    comparison_to_dict,
    format_errors_to_list,
    inference_to_dict,
    training_to_dict,
)
from service.cli_args import (
    EXIT_INVALID_DATA,
    EXIT_USAGE,
    CliError,
    OneLineParser,
    check_request,
    one_line,
    override_price,
    parse_date,
    parse_epochs,
    parse_hours,
    parse_non_negative_int,
    parse_override,
)
from service.cli_models import add_commands as add_lifecycle_commands
from service.cli_prices import cmd_prices

__all__ = ["EXIT_INVALID_DATA", "EXIT_USAGE", "CliError", "build_parser", "main"]

log = logging.getLogger(__name__)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def _overrides(model_id: str, pairs: Sequence[tuple[str, str]]) -> list[Override]:
    result = []
    for price_field, value in pairs:
        amount = override_price(price_field, value)
        result.append(validate_override(Override(model_id, price_field, amount, note="--override")))
    return result


def cmd_estimate_train(args: argparse.Namespace) -> int:
    from pricing.estimate import estimate_training
    from service.estimates.schemas import TrainingRequest

    check_request(
        TrainingRequest,
        {"tokens": "--tokens", "n_examples": "--examples", "n_epochs": "--epochs"},
        model=args.model,
        n_epochs=args.epochs,
        n_examples=args.examples,
        # a file's token count is checked by the same bound below, once it is known
        **({"tokens": args.tokens} if args.tokens is not None else {"token_lengths": []}),
    )
    as_of = args.as_of or date.today()
    resolved = load_catalogue().resolve(args.model, as_of=as_of)
    book = load_builtin_price_book()
    overrides = _overrides(resolved.id, args.override)
    hourly = args.method == "reinforcement"
    if hourly and args.training_hours is None:
        raise CliError(
            "reinforcement fine-tuning is billed per hour: give --training-hours H (your "
            "assumption of the run's duration)"
        )
    if (args.file is None) == (args.tokens is None) and not (hourly and args.file is None):
        raise CliError("give a training FILE or --tokens N (one of them)")
    if args.file is not None:
        from pricing.datasets import analyse_training_file

        limit = resolved.model.training_example_limit
        if hourly and resolved.model.fine_tunable:
            # Reinforcement items have no published token limit; this only bounds statistics.
            limit = limit or 65_536
        if limit is None:
            estimate_training(
                model=resolved, book=book, as_of=as_of, billing_tokens=0
            )  # raises NotFineTunable
            raise AssertionError("unreachable")
        path = Path(args.file)
        if not path.is_file():
            raise CliError(f"no such file: {path}")
        stats = _analyse_with_progress(
            analyse_training_file,
            path,
            resolved.encoding,
            limit,
            show=not args.json,
            method=args.method,
        )
        if stats.format_errors:
            errors = format_errors_to_list(stats.format_errors)
            if args.json:
                _emit(
                    {
                        "model": resolved.id,
                        "n_examples": stats.n_examples,
                        "cost_usd": None,
                        "format_errors": errors,
                        "warnings": list(stats.warnings),
                    }
                )
            else:
                sys.stderr.write(
                    f"ratecard: {path} has format errors; fix them before estimating:\n"
                )
                for p in stats.format_errors:
                    sys.stderr.write(f"  - {p.kind}: {p.message}\n")
            return EXIT_INVALID_DATA
        tokens, examples, warnings = stats.billing_tokens, stats.n_examples, stats.warnings
        check_request(TrainingRequest, {"tokens": str(path)}, model=args.model, tokens=tokens)
    else:
        tokens, examples, warnings = args.tokens, args.examples, ()
    estimate = estimate_training(
        model=resolved,
        book=book,
        as_of=as_of,
        billing_tokens=tokens,
        n_examples=examples,
        n_epochs=args.epochs,
        overrides=overrides,
        warnings=warnings,
        method=args.method,
        training_hours=args.training_hours,
        lifecycle=load_lifecycle(),
    )
    out = training_to_dict(estimate)
    out["method"] = estimate.method
    if estimate.training_hours is not None and estimate.usd_per_training_hour is not None:
        out["training_hours"] = str(estimate.training_hours)
        out["usd_per_training_hour"] = format_usd(estimate.usd_per_training_hour)
    if args.json:
        _emit(out)
        return 0
    lines = [
        f"Training estimate for {estimate.model}"
        + (
            f" (from {estimate.requested_model})"
            if estimate.requested_model != estimate.model
            else ""
        ),
        f"  method            {estimate.method}",
        f"  price version     {estimate.price_version} (as of {estimate.as_of.isoformat()})",
    ]
    if "training_hours" in out:
        lines += [
            f"  training hours    {out['training_hours']} (your assumption)",
            f"  training price    ${out['usd_per_training_hour']} per hour "
            f"({estimate.price_source})",
        ]
    else:
        if estimate.n_examples is not None:
            lines.append(f"  examples          {estimate.n_examples:,}")
        lines += [
            f"  billing tokens    {estimate.billing_tokens:,}",
            f"  epochs            {estimate.n_epochs}"
            + (" (auto)" if estimate.epochs_auto else ""),
            f"  charged tokens    {estimate.charged_tokens:,}",
            f"  training price    ${out['usd_per_1m_training_tokens']} per 1M tokens "
            f"({estimate.price_source})",
        ]
    lines.append(
        f"  cost              {display_usd(estimate.cost_usd)} (exact: ${out['cost_usd']})"
    )
    lines += [f"  warning: {w}" for w in estimate.warnings]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _analyse_with_progress(
    analyse: Any, path: Path, encoding: str, limit: int, *, show: bool, method: str
) -> Any:
    size = path.stat().st_size
    if not show or size < 8 * 1024 * 1024:
        return analyse(path, encoding_name=encoding, max_tokens_per_example=limit, method=method)
    from tqdm import tqdm

    with tqdm(
        total=size, unit="B", unit_scale=True, desc="counting tokens", file=sys.stderr
    ) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        return analyse(
            path,
            encoding_name=encoding,
            max_tokens_per_example=limit,
            progress=progress,
            method=method,
        )


def cmd_estimate_inference(args: argparse.Namespace) -> int:
    from service.estimates.schemas import InferenceRequest, WorkloadIn

    others = [m.strip() for m in (args.vs or "").split(",") if m.strip()]
    check_request(
        InferenceRequest,
        {
            **{f: "--" + f.replace("_", "-") for f in WorkloadIn.model_fields},
            "model": "--model",
            "scenarios": "--vs",
        },
        model=args.model,
        workload={
            "prompt_tokens": args.prompt_tokens,
            "completion_tokens": args.completion_tokens,
            "requests_per_day": args.requests_per_day,
        },
        scenarios=[{"model": m} for m in others],
    )
    as_of = args.as_of or date.today()
    catalogue = load_catalogue()
    book = load_builtin_price_book()
    workload = Workload(args.prompt_tokens, args.completion_tokens, args.requests_per_day)
    main = catalogue.resolve(args.model, as_of=as_of)
    estimates: list[InferenceEstimate] = [
        estimate_inference(
            model=main,
            workload=workload,
            book=book,
            as_of=as_of,
            overrides=_overrides(main.id, args.override),
        )
    ]
    for other in others:
        resolved = catalogue.resolve(other, as_of=as_of)
        estimates.append(
            estimate_inference(model=resolved, workload=workload, book=book, as_of=as_of)
        )
    if len(estimates) == 1:
        out = inference_to_dict(estimates[0])
        if args.json:
            _emit(out)
            return 0
        e = estimates[0]
        sys.stdout.write(
            f"Inference estimate for {e.model}{' (fine-tuned)' if e.fine_tuned else ''}, "
            f"price version {e.price_version}\n"
            f"  per request  ${out['cost_per_request_usd']}\n"
            f"  per day      {display_usd(e.cost_per_day_usd)} "
            f"(exact: ${out['cost_per_day_usd']})\n"
            f"  per month    {display_usd(e.cost_per_month_usd)} "
            f"(30 days; exact: ${out['cost_per_month_usd']})\n"
        )
        return 0
    comparison = compare_scenarios(estimates)
    if args.json:
        _emit(comparison_to_dict(comparison))
        return 0
    for e in estimates:
        sys.stdout.write(
            f"{e.requested_model:<40} per request ${format_usd(e.cost_per_request_usd):>12}  "
            f"per month {display_usd(e.cost_per_month_usd):>14}\n"
        )
    return 0


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
    train.add_argument(
        "--method",
        choices=("supervised", "preference", "reinforcement"),
        default="supervised",
        help="fine-tuning method; the FILE's format follows it (default: supervised)",
    )
    train.add_argument(
        "--training-hours",
        type=parse_hours,
        help="reinforcement only: the hours of training you assume (it is billed per hour)",
    )
    train.add_argument("--as-of", type=parse_date, help="price date (default: today)")
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
