"""`ratecard prices list|show|diff`: the built-in price versions, from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

from pricing.catalogue import load_catalogue
from pricing.money import format_usd
from pricing.prices import load_builtin_price_book
from service.cli_args import CliError


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


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
