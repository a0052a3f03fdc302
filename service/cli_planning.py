"""`ratecard plan list|show|check`: the end of fine-tuning, from the host.

Like `ratecard keys`, it reads RATECARD_DATABASE_URL directly (and OpenAI with the configured
key), through the same service functions as `/v1/planning/...`, so the figures are the API's.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from service.cli_args import EXIT_USAGE, CliError, parse_date, parse_non_negative_int


def _engine_and_settings() -> tuple[Any, Any]:
    from service.db import create_db_engine, migrate
    from service.settings import get_settings

    settings = get_settings()
    engine = create_db_engine(settings.database_url, connections=4)
    migrate(engine)
    return engine, settings


def _now(args: argparse.Namespace) -> datetime:
    if args.as_of is None:
        return datetime.now(UTC)
    return datetime.combine(args.as_of, datetime.min.time(), tzinfo=UTC).replace(hour=12)


def _pct(text: str) -> Decimal:
    try:
        value = Decimal(text.rstrip("%"))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not Decimal(0) <= value < 100:
        raise argparse.ArgumentTypeError("a percentage from 0 up to below 100")
    return value


def cmd_plan(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from service.db import session_scope
    from service.errors import ServiceError
    from service.planning import export, service
    from service.planning.alerts import check_countdown
    from service.planning.inventory import build_inventory
    from service.planning.schemas import RECOMMENDED, PlanIn
    from service.usage.names import default_org

    engine, settings = _engine_and_settings()
    now = _now(args)
    org = args.org or default_org(settings)
    try:
        if args.plan_cmd == "check":
            new = check_countdown(engine, now=now, settings=settings)
            sys.stdout.write(f"{new} new countdown alert(s)\n")
            return 0
        with session_scope(engine) as session:
            if args.plan_cmd == "list":
                inventory = build_inventory(
                    session,
                    org=org,
                    now=now,
                    days=args.days,
                    settings=settings,
                    ask_openai=not args.no_openai,
                )
                out = service.inventory_out(session, inventory)
                if args.json:
                    sys.stdout.write(out.model_dump_json(indent=2) + "\n")
                else:
                    _print_inventory(out.model_dump(mode="json"))
                return 0
            common: dict[str, Any] = {"tier": args.tier}
            if args.added_prompt_tokens is not None:
                common["added_prompt_tokens"] = args.added_prompt_tokens
            if args.prompt_cut_pct is not None:
                common["prompt_cut_pct"] = args.prompt_cut_pct
            if args.completion_tokens is not None:
                common["completion_tokens"] = args.completion_tokens
            request = PlanIn.model_validate(
                {
                    "scenarios": [{"model": m, **common} for m in args.to or [RECOMMENDED]],
                    "volume": None
                    if args.requests_per_day is None
                    else {
                        "requests_per_day": args.requests_per_day,
                        "prompt_tokens": args.prompt_tokens or 0,
                        "completion_tokens": args.volume_completion_tokens or 0,
                    },
                    "days": args.days,
                }
            )
            if args.model == "all":
                plans = service.plan_all(
                    session, request=request, org=org, now=now, settings=settings
                )
            else:
                plans = [
                    service.plan(
                        session,
                        name=args.model,
                        request=request,
                        org=org,
                        now=now,
                        settings=settings,
                    )
                ]
            if args.csv:
                sys.stdout.write(export.plans_csv(plans))
            elif args.json:
                sys.stdout.write(
                    json.dumps([p.model_dump(mode="json") for p in plans], indent=2) + "\n"
                )
            else:
                for p in plans:
                    _print_plan(p.model_dump(mode="json"))
            return 0
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(
            f"{'.'.join(map(str, first['loc']))}: {first['msg']}", code=EXIT_USAGE
        ) from None
    except ServiceError as exc:
        raise CliError(exc.detail, code=EXIT_USAGE) from None


def _print_inventory(body: dict[str, Any]) -> None:
    closes = body.get("fine_tuning_closes")
    if closes:
        sys.stdout.write(f"new fine-tuning jobs stop on {closes}\n")
    if not body["models"]:
        sys.stdout.write("no fine-tuned models found\n")
    for m in body["models"]:
        c = m["countdown"]
        left = "-" if c["days_left"] is None else f"{c['days_left']}d"
        traffic = m["traffic"]
        per_day = traffic["requests_per_day"] if traffic else "0"
        sys.stdout.write(
            f"{left:>5}  {m['model']:<60} until {c['shutdown_date'] or '-':<10}  "
            f"{per_day:>10} req/day  -> {c['replacement'] or '?'}\n"
        )


def _print_plan(p: dict[str, Any]) -> None:
    m, today = p["model"], p["today"]
    c = m["countdown"]
    sys.stdout.write(
        f"{m['model']}: {c['state']}, shuts down {c['shutdown_date'] or '-'} "
        f"({c['days_left']} days left); today ${today['cost_per_month_usd']}/month\n"
    )
    for s in p["scenarios"]:
        pool = s["pool"]
        fits = {True: "fits", False: "DOES NOT FIT", None: "limit unknown"}[pool["fits"]]
        month = s["cost"]["cost_per_month_usd"]
        sys.stdout.write(
            f"  {s['name']:<24} {s['cost']['tier']:<8} ${month:>12}/month "
            f"({'+' if not s['change_per_month_usd'].startswith('-') else ''}"
            f"{s['change_per_month_usd']}), +{s['added_prompt_tokens']} prompt tokens, "
            f"peak {pool['peak_tokens_per_minute']} of {pool['tokens_per_minute_limit'] or '?'} "
            f"TPM: {fits}\n"
        )
    last = p.get("last_fine_tune")
    if last:
        if last.get("pays_for_itself") is not None:
            verdict = "pays for itself" if last["pays_for_itself"] else "does not pay for itself"
            sys.stdout.write(
                f"  one last fine-tune: ${last['training_cost_usd']}, serves "
                f"{last['serves_days']} days, {verdict} (net ${last['net_saving_usd']})\n"
            )
        else:
            sys.stdout.write(f"  one last fine-tune: {last['reason']}\n")


def add_plan_commands(sub: Any) -> None:
    plan = sub.add_parser(
        "plan",
        help="the end of fine-tuning: fine-tuned models by days left, migration scenarios, "
        "countdown check (reads RATECARD_DATABASE_URL)",
    ).add_subparsers(dest="plan_cmd", required=True)
    listing = plan.add_parser("list", help="every fine-tuned model, by days left")
    show = plan.add_parser("show", help="migration scenarios of a model (or `all`)")
    show.add_argument("model", help="an ft: model name, or `all`")
    show.add_argument(
        "--to", action="append", help="a replacement (repeat; default: OpenAI's recommendation)"
    )
    show.add_argument("--added-prompt-tokens", type=parse_non_negative_int)
    show.add_argument("--prompt-cut-pct", type=_pct, help="the prompt was cut by this %% (90)")
    show.add_argument("--completion-tokens", type=parse_non_negative_int)
    show.add_argument("--tier", choices=("standard", "batch", "flex"), default="standard")
    show.add_argument("--requests-per-day", type=parse_non_negative_int)
    show.add_argument("--prompt-tokens", type=parse_non_negative_int)
    show.add_argument("--volume-completion-tokens", type=parse_non_negative_int)
    show.add_argument("--csv", action="store_true", help="CSV for finance")
    check = plan.add_parser("check", help="publish due countdown alerts now (once each)")
    for p in (listing, show, check):
        p.add_argument("--org")
        p.add_argument("--as-of", type=parse_date, help="pretend today is this date")
        p.set_defaults(func=cmd_plan)
    for p in (listing, show):
        p.add_argument("--days", type=int, default=7, choices=range(1, 32), metavar="1-31")
        p.add_argument("--json", action="store_true")
    listing.add_argument("--no-openai", action="store_true", help="do not ask OpenAI")
