"""`ratecard models` and `ratecard prices check`: the lifecycle and price data, offline.

Both read the data shipped with the package (no service, no database), like the other offline
commands: ``models`` lists every model's state on a date; ``prices check`` is the maintainer's
gate for a new price version file before it is committed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from pricing.catalogue import load_catalogue
from pricing.history import check_version_file
from pricing.lifecycle import load_lifecycle
from pricing.money import format_usd
from service.catalogue.schemas import ModelOut
from service.catalogue.service import describe
from service.cli_args import EXIT_INVALID_DATA, CliError, parse_date


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def _fine_tuning_text(model: ModelOut) -> str:
    parts = []
    for verdict in model.fine_tuning:
        if not verdict.accepted:
            parts.append(f"{verdict.method}: closed")
        elif verdict.last_day is not None:
            parts.append(f"{verdict.method}: until {verdict.last_day} ({verdict.days_left}d)")
        else:
            parts.append(f"{verdict.method}: open")
    return ", ".join(parts) or "-"


def cmd_models(args: argparse.Namespace) -> int:
    as_of: date = args.as_of or date.today()
    catalogue, lifecycle = load_catalogue(), load_lifecycle()
    if args.name:
        resolved = [catalogue.resolve(args.name, as_of=as_of)]
    else:
        resolved = [catalogue.resolve(m, as_of=as_of) for m in sorted(catalogue.models)]
    models = [describe(m, lifecycle=lifecycle, as_of=as_of) for m in resolved]
    closes = lifecycle.fine_tuning_closes(as_of)
    if args.json:
        _emit(
            {
                "as_of": as_of.isoformat(),
                "fine_tuning_closes": None if closes is None else closes.isoformat(),
                "models": [m.model_dump(mode="json") for m in models],
            }
        )
        return 0
    title = f"Models as of {as_of.isoformat()}"
    if closes is not None:
        title += f" (no new fine-tuning job from {closes.isoformat()})"
    lines = [
        title,
        f"{'MODEL':<36} {'STATE':<13} {'SHUTDOWN':<10} {'DAYS':>5}  {'REPLACEMENT':<18} "
        "FINE-TUNING",
    ]
    for m in models:
        name = m.requested or m.id
        if m.fine_tuned:
            name = f"{name} (base {m.id})"
        lines.append(
            f"{name:<36} {m.state:<13} {m.shutdown_date or '-'!s:<10} "
            f"{'-' if m.days_left is None else m.days_left:>5}  {m.replacement or '-':<18} "
            f"{_fine_tuning_text(m)}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _shipped_files() -> list[dict[str, Any]]:
    folder = resources.files("pricing").joinpath("data/prices")
    return [
        tomllib.loads(f.read_text("utf-8")) for f in folder.iterdir() if f.name.endswith(".toml")
    ]


def cmd_prices_check(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}", code=EXIT_INVALID_DATA)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: not valid TOML: {exc}", code=EXIT_INVALID_DATA) from None
    shipped = _shipped_files()
    previous = max(
        (d for d in shipped if str(d.get("version")) != str(data.get("version"))),
        key=lambda d: str(d.get("effective_date")),
    )
    # check_version_file raises InvalidPriceTableError (a PricingError): one line, exit 3.
    version, changes = check_version_file(shipped, data, known_models=load_catalogue().models)
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
        _emit(
            {
                "version": version.version,
                "effective_date": version.effective_date.isoformat(),
                "previous": str(previous.get("version")),
                "changes": rows,
            }
        )
        return 0
    sys.stdout.write(
        f"{path}: valid price version {version.version} (effective "
        f"{version.effective_date.isoformat()}); {len(rows)} change(s) against "
        f"{previous.get('version')}\n"
    )
    for r in rows:
        sys.stdout.write(
            f"{r['model']:<28} {r['field']:<36} {r['old'] or '-':>10} -> {r['new'] or '-'}\n"
        )
    return 0


def add_commands(sub: Any, prices: Any) -> None:
    """``models`` on the top-level parser, ``check`` under ``prices``."""
    models = sub.add_parser(
        "models", help="every model's state, shutdown date, days left and replacement"
    )
    models.add_argument("--as-of", type=parse_date, help="the date to look at (default: today)")
    models.add_argument("--name", help="one model name (snapshots, aliases, ft: names)")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)

    check = prices.add_parser(
        "check", help="validate a new price version file and show its diff against the previous"
    )
    check.add_argument("file", help="a pricing/data/prices/YYYY-MM-DD.toml file")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_prices_check)
