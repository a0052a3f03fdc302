"""The ``ratecard estimate train|inference`` commands: the REST API's estimates, offline.

Priced with the shipped price book, catalogue, lifecycle and promotions; --json prints the same
field names as the REST API.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pricing.catalogue import load_catalogue
from pricing.estimate import (
    InferenceEstimate,
    TrainingEstimate,
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
from service.cli_args import (
    EXIT_INVALID_DATA,
    CliError,
    check_request,
    override_price,
)


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
    from pricing.lifecycle import load_lifecycle
    from pricing.promotions import load_promotions
    from service.estimates.schemas import TrainingRequest

    reinforcement = args.method == "reinforcement"
    if reinforcement:
        source: dict[str, Any] = {}
        if args.file is not None or args.tokens is not None:
            raise CliError(
                "reinforcement fine-tuning is billed per hour of training: "
                "give --hours (and --hours-max for a range), not a file or --tokens"
            )
    elif args.tokens is not None:
        source = {"tokens": args.tokens}
    else:  # a file's token count is checked by the same bound below, once it is known
        source = {"token_lengths": []}
    check_request(
        TrainingRequest,
        {
            "tokens": "--tokens",
            "n_examples": "--examples",
            "n_epochs": "--epochs",
            "training_hours": "--hours",
            "training_hours_max": "--hours-max",
        },
        model=args.model,
        n_epochs=args.epochs,
        n_examples=args.examples,
        method=args.method,
        training_hours=args.hours,
        training_hours_max=args.hours_max,
        **source,
    )
    as_of = args.as_of or date.today()
    resolved = load_catalogue().resolve(args.model, as_of=as_of)
    book = load_builtin_price_book()
    overrides = _overrides(resolved.id, args.override)
    if not reinforcement and (args.file is None) == (args.tokens is None):
        raise CliError("give a training FILE or --tokens N (one of them)")
    tokens, examples, warnings = args.tokens, args.examples, ()
    if args.file is not None:
        from pricing.datasets import analyse_training_file

        limit = resolved.model.training_example_limit
        if limit is None:
            estimate_training(
                model=resolved, book=book, as_of=as_of, billing_tokens=0, method=args.method
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
        training_hours=args.hours,
        training_hours_max=args.hours_max,
        lifecycle=load_lifecycle(),
        promotions=load_promotions(),
    )
    out = training_to_dict(estimate)
    if args.json:
        _emit(out)
        return 0
    sys.stdout.write("\n".join(_training_lines(estimate, out)) + "\n")
    return 0


def _training_lines(estimate: TrainingEstimate, out: dict[str, Any]) -> list[str]:
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
    if estimate.method == "reinforcement":
        hours = out["training_hours"]
        if out["training_hours_max"] is not None:
            hours += f" to {out['training_hours_max']}"
        lines += [
            f"  training hours    {hours} (your assumption)",
            f"  hourly price      ${out['usd_per_training_hour']} per hour "
            f"({estimate.price_source})",
            f"  cost              {display_usd(estimate.cost_usd)} (exact: ${out['cost_usd']})",
        ]
        if estimate.cost_usd_max is not None:
            lines.append(
                f"  cost at most      {display_usd(estimate.cost_usd_max)} "
                f"(exact: ${out['cost_usd_max']})"
            )
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
        if estimate.promotion is not None:
            lines.append(
                f"  free tokens       {estimate.free_training_tokens:,} ({estimate.promotion})"
            )
        lines.append(
            f"  cost              {display_usd(estimate.cost_usd)} (exact: ${out['cost_usd']})"
        )
    return lines + [f"  warning: {w}" for w in estimate.warnings]


def _analyse_with_progress(
    analyse: Any, path: Path, encoding: str, limit: int, *, show: bool, method: str = "supervised"
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
    from pricing.lifecycle import load_lifecycle
    from service.estimates.schemas import InferenceRequest, WorkloadIn

    others = [m.strip() for m in (args.vs or "").split(",") if m.strip()]
    flags = {f: "--" + f.replace("_", "-") for f in WorkloadIn.model_fields}
    flags.update(
        model="--model",
        scenarios="--vs",
        tier="--tier",
        cached_prompt_tokens="--cached-tokens",
        cache_write_tokens="--cache-write-tokens",
    )
    check_request(
        InferenceRequest,
        flags,
        model=args.model,
        tier=args.tier,
        workload={
            "prompt_tokens": args.prompt_tokens,
            "completion_tokens": args.completion_tokens,
            "requests_per_day": args.requests_per_day,
            "cached_prompt_tokens": args.cached_tokens,
            "cache_write_tokens": args.cache_write_tokens,
        },
        scenarios=[{"model": m} for m in others],
    )
    as_of = args.as_of or date.today()
    catalogue = load_catalogue()
    book = load_builtin_price_book()
    lifecycle = load_lifecycle()
    workload = Workload(
        args.prompt_tokens,
        args.completion_tokens,
        args.requests_per_day,
        args.cached_tokens,
        args.cache_write_tokens,
    )
    main = catalogue.resolve(args.model, as_of=as_of)
    estimates: list[InferenceEstimate] = [
        estimate_inference(
            model=main,
            workload=workload,
            book=book,
            as_of=as_of,
            overrides=_overrides(main.id, args.override),
            tier=args.tier,
            lifecycle=lifecycle,
        )
    ]
    for other in others:
        resolved = catalogue.resolve(other, as_of=as_of)
        estimates.append(
            estimate_inference(
                model=resolved,
                workload=workload,
                book=book,
                as_of=as_of,
                tier=args.tier,
                lifecycle=lifecycle,
            )
        )
    if len(estimates) == 1:
        out = inference_to_dict(estimates[0])
        if args.json:
            _emit(out)
            return 0
        e = estimates[0]
        sys.stdout.write(
            f"Inference estimate for {e.model}{' (fine-tuned)' if e.fine_tuned else ''}, "
            f"price version {e.price_version}, {e.tier} tier"
            f"{', long context' if e.long_context else ''}\n"
            f"  per request  ${out['cost_per_request_usd']}\n"
            f"  per day      {display_usd(e.cost_per_day_usd)} "
            f"(exact: ${out['cost_per_day_usd']})\n"
            f"  per month    {display_usd(e.cost_per_month_usd)} "
            f"(30 days; exact: ${out['cost_per_month_usd']})\n"
            + "".join(f"  warning: {w}\n" for w in e.warnings)
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
    for e in estimates:
        sys.stdout.write("".join(f"  warning: {w}\n" for w in e.warnings))
    return 0
