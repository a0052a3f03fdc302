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
from decimal import Decimal
from pathlib import Path
from typing import Any

from pricing.catalogue import load_catalogue
from pricing.errors import PricingError
from pricing.estimate import (
    Epochs,
    InferenceEstimate,
    Workload,
    compare_scenarios,
    estimate_inference,
)
from pricing.money import display_usd, format_usd
from pricing.prices import Override, load_builtin_price_book, validate_override
from pricing.serialize import (
    comparison_to_dict,
    format_errors_to_list,
    inference_to_dict,
    training_to_dict,
)

EXIT_USAGE = 2
EXIT_INVALID_DATA = 3

log = logging.getLogger(__name__)


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _epochs(text: str) -> Epochs:
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"epochs must be a whole number or 'auto', not {text!r}"
        ) from None


def _non_negative_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("override must look like usd_per_1m_training_tokens=25.00")
    return key.strip(), value.strip()


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def _overrides(model_id: str, pairs: Sequence[tuple[str, str]]) -> list[Override]:
    result = []
    for price_field, value in pairs:
        try:
            amount = Decimal(value)
        except ArithmeticError:
            raise CliError(f"override {price_field}: not a decimal price: {value!r}") from None
        result.append(validate_override(Override(model_id, price_field, amount, note="--override")))
    return result


def cmd_estimate_train(args: argparse.Namespace) -> int:
    from pricing.estimate import estimate_training

    as_of = args.as_of or date.today()
    resolved = load_catalogue().resolve(args.model, as_of=as_of)
    book = load_builtin_price_book()
    overrides = _overrides(resolved.id, args.override)
    if (args.file is None) == (args.tokens is None):
        raise CliError("give a training FILE or --tokens N (one of them)")
    if args.file is not None:
        from pricing.datasets import analyse_training_file

        limit = resolved.model.training_example_limit
        if limit is None:
            estimate_training(
                model=resolved, book=book, as_of=as_of, billing_tokens=0
            )  # raises NotFineTunable
            raise AssertionError("unreachable")
        path = Path(args.file)
        if not path.is_file():
            raise CliError(f"no such file: {path}")
        stats = _analyse_with_progress(
            analyse_training_file, path, resolved.encoding, limit, show=not args.json
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
    )
    out = training_to_dict(estimate)
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
        f"  price version     {estimate.price_version} (as of {estimate.as_of.isoformat()})",
    ]
    if estimate.n_examples is not None:
        lines.append(f"  examples          {estimate.n_examples:,}")
    lines += [
        f"  billing tokens    {estimate.billing_tokens:,}",
        f"  epochs            {estimate.n_epochs}" + (" (auto)" if estimate.epochs_auto else ""),
        f"  charged tokens    {estimate.charged_tokens:,}",
        f"  training price    ${out['usd_per_1m_training_tokens']} per 1M tokens "
        f"({estimate.price_source})",
        f"  cost              {display_usd(estimate.cost_usd)} (exact: ${out['cost_usd']})",
    ]
    lines += [f"  warning: {w}" for w in estimate.warnings]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _analyse_with_progress(
    analyse: Any, path: Path, encoding: str, limit: int, *, show: bool
) -> Any:
    size = path.stat().st_size
    if not show or size < 8 * 1024 * 1024:
        return analyse(path, encoding_name=encoding, max_tokens_per_example=limit)
    from tqdm import tqdm

    with tqdm(
        total=size, unit="B", unit_scale=True, desc="counting tokens", file=sys.stderr
    ) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        return analyse(
            path, encoding_name=encoding, max_tokens_per_example=limit, progress=progress
        )


def cmd_estimate_inference(args: argparse.Namespace) -> int:
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
    for other in [m for m in (args.vs or "").split(",") if m.strip()]:
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


def cmd_prices(args: argparse.Namespace) -> int:
    book = load_builtin_price_book()
    if args.prices_cmd == "list":
        # One type for both tables: a price diff's old/new is None when the field is absent.
        rows: list[dict[str, str | None]] = [
            {
                "version": v.version,
                "effective_date": v.effective_date.isoformat(),
                "notes": v.notes,
                "source": v.source,
            }
            for v in book.versions
        ]
        if args.json:
            _emit({"versions": rows})
        else:
            for r in rows:
                sys.stdout.write(f"{r['version']}  {r['effective_date']}  {r['notes']}\n")
        return 0
    if args.prices_cmd == "show":
        version = (
            book.get(args.version) if args.version else book.in_force(args.as_of or date.today())
        )
        models = version.models
        if args.model:
            resolved = load_catalogue().resolve(
                args.model, as_of=args.as_of or version.effective_date
            )
            if resolved.id not in models:
                raise CliError(f"{resolved.id} has no prices in version {version.version}")
            models = {resolved.id: models[resolved.id]}
        table = {m: {k: format_usd(v) for k, v in p.prices.items()} for m, p in models.items()}
        if args.json:
            _emit(
                {
                    "version": version.version,
                    "effective_date": version.effective_date.isoformat(),
                    "models": table,
                }
            )
        else:
            sys.stdout.write(
                f"Price version {version.version} (effective {version.effective_date}), "
                "USD per 1M tokens\n"
            )
            for m, fields in table.items():
                sys.stdout.write(f"{m}\n")
                for k, v in fields.items():
                    sys.stdout.write(f"    {k:<36} {v:>10}\n")
        return 0
    changes = book.diff(args.from_version, args.to_version)
    rows = [
        {
            "model": c.model,
            "field": c.field,
            "old": None if c.old is None else format_usd(c.old),
            "new": None if c.new is None else format_usd(c.new),
        }
        for c in changes
    ]
    if args.json:
        _emit({"from": args.from_version, "to": args.to_version, "changes": rows})
    else:
        for r in rows:
            sys.stdout.write(
                f"{r['model']:<28} {r['field']:<36} {r['old'] or '-':>10} -> {r['new'] or '-'}\n"
            )
        if not rows:
            sys.stdout.write("no price changes\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        "--tokens", type=_non_negative_int, help="billing tokens per epoch (instead of a file)"
    )
    train.add_argument(
        "--examples",
        type=_non_negative_int,
        help="number of examples (for --epochs auto with --tokens)",
    )
    train.add_argument("--epochs", type=_epochs, default="auto")
    train.add_argument("--as-of", type=_date, help="price date (default: today)")
    train.add_argument(
        "--override",
        type=_override,
        action="append",
        default=[],
        metavar="FIELD=USD",
        help="contract price per 1M tokens, e.g. usd_per_1m_training_tokens=90",
    )
    train.add_argument("--json", action="store_true")
    train.set_defaults(func=cmd_estimate_train)

    inf = est.add_parser("inference", help="cost per request, day and month of a workload")
    inf.add_argument("--model", required=True)
    inf.add_argument("--prompt-tokens", type=_non_negative_int, required=True)
    inf.add_argument("--completion-tokens", type=_non_negative_int, required=True)
    inf.add_argument("--requests-per-day", type=_non_negative_int, required=True)
    inf.add_argument("--vs", help="comma-separated models to compare with the same workload")
    inf.add_argument("--as-of", type=_date)
    inf.add_argument("--override", type=_override, action="append", default=[], metavar="FIELD=USD")
    inf.add_argument("--json", action="store_true")
    inf.set_defaults(func=cmd_estimate_inference)

    prices = sub.add_parser("prices", help="price versions").add_subparsers(
        dest="prices_cmd", required=True
    )
    p_list = prices.add_parser("list")
    p_list.add_argument("--json", action="store_true")
    p_show = prices.add_parser("show")
    p_show.add_argument("--as-of", type=_date)
    p_show.add_argument("--version")
    p_show.add_argument("--model")
    p_show.add_argument("--json", action="store_true")
    p_diff = prices.add_parser("diff")
    p_diff.add_argument("from_version")
    p_diff.add_argument("to_version")
    p_diff.add_argument("--json", action="store_true")
    for p in (p_list, p_show, p_diff):
        p.set_defaults(func=cmd_prices)

    _add_service_commands(sub)
    return parser


def _add_service_commands(sub: Any) -> None:
    """serve / watcher / bot: added here so `ratecard --help` lists them."""
    try:
        from service.commands import add_commands
    except ImportError:  # the service layer is optional for the pure estimate commands
        return
    add_commands(sub)


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
        sys.stderr.write(f"ratecard: {exc}\n")
        return exc.code
    except PricingError as exc:
        sys.stderr.write(f"ratecard: {exc}\n")
        return EXIT_INVALID_DATA
    except BrokenPipeError:  # e.g. `ratecard prices diff ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("ratecard: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
