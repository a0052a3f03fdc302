"""Counting usage events into the pools, all of a batch or none of it.

**TPM counting rule.** A request counts ``prompt_tokens + max_tokens`` when ``max_tokens`` is
given, else ``prompt_tokens + completion_tokens`` — OpenAI's limiter reserves max_tokens up front.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from pricing.catalogue import Catalogue
from pricing.errors import ModelNotAvailableError, PricingError, UnknownModelError
from service.errors import InvalidInput
from service.prices.service import catalogue_for
from service.settings import Settings
from service.usage import store
from service.usage.models import BUCKET_SECONDS
from service.usage.names import model_key
from service.usage.schemas import UsageEventIn
from service.usage.store import BucketKey, Counts
from service.usage.thresholds import evaluate_alert
from service.usage.windows import MAX_AGE, MAX_FUTURE, from_ts

log = logging.getLogger(__name__)

_MAX_LISTED_DUPLICATES = 100
_MAX_LISTED_ERRORS = 50


def _resolve_batch(
    catalogue: Catalogue, events: Sequence[UsageEventIn], days: Sequence[int]
) -> list[tuple[str, str]]:
    """(family, model key) of every event, or reject the whole batch naming each bad name once.

    Names resolve as of the event's UTC day (aliases move between snapshots over time)."""
    cache: dict[tuple[str, int], tuple[str, str] | PricingError] = {}
    resolved: list[tuple[str, str]] = []
    bad: dict[str, dict[str, Any]] = {}
    for index, (event, day) in enumerate(zip(events, days, strict=True)):
        found = cache.get((event.model, day))
        if found is None:
            try:
                model = catalogue.resolve(event.model, as_of=from_ts(day * 86400).date())
                found = (model.family, model_key(model))
            except (UnknownModelError, ModelNotAvailableError) as exc:
                found = exc
            cache[(event.model, day)] = found
        if isinstance(found, PricingError):
            entry = bad.setdefault(
                event.model,
                {
                    "model": event.model,
                    "message": str(found),
                    "suggestions": found.suggestions
                    if isinstance(found, UnknownModelError)
                    else [],
                    "indices": [],
                },
            )
            if len(entry["indices"]) < _MAX_LISTED_ERRORS:
                entry["indices"].append(index)
            continue
        resolved.append(found)
    if bad:
        first = next(iter(bad.values()))
        names = ", ".join(repr(name) for name in bad)
        raise InvalidInput(
            f"unknown model{'s' if len(bad) > 1 else ''} {names}; nothing was recorded. "
            f"{first['message']}",
            code="unknown_model",
            model=first["model"],
            suggestions=first["suggestions"],
            unknown_models=list(bad.values()),
        )
    return resolved


def _check_timestamps(
    events: Sequence[UsageEventIn], stamps: Sequence[float], now: datetime
) -> None:
    latest = (now + MAX_FUTURE).timestamp()
    earliest = (now - MAX_AGE).timestamp()
    bad = [i for i, ts in enumerate(stamps) if not earliest <= ts <= latest]
    if not bad:
        return
    errors = [
        {
            "index": i,
            "timestamp": events[i].timestamp.isoformat(),
            "message": "more than 5 minutes in the future"
            if stamps[i] > latest
            else "older than 7 days",
        }
        for i in bad[:_MAX_LISTED_ERRORS]
    ]
    raise InvalidInput(
        f"{len(bad)} event(s) have a timestamp {errors[0]['message']} "
        f"(server time {now.isoformat()}); nothing was recorded",
        code="bad_timestamp",
        errors=errors,
    )


def tpm_tokens(event: UsageEventIn) -> int:
    """The TPM counting rule (see the module docstring)."""
    if event.max_tokens is not None:
        return event.prompt_tokens + event.max_tokens
    return event.prompt_tokens + event.completion_tokens


def ingest(
    session: Session, *, org: str, events: Sequence[UsageEventIn], now: datetime, settings: Settings
) -> dict[str, Any]:
    """Count a batch of usage events: all of it or, on any invalid event, nothing."""
    exact = [event.timestamp.timestamp() for event in events]
    _check_timestamps(events, exact, now)
    stamps = [int(ts) for ts in exact]  # floor: every moment of a second falls in one bucket
    resolved = _resolve_batch(catalogue_for(session), events, [ts // 86400 for ts in stamps])

    # De-duplicate inside the batch first (the first occurrence wins), then against the database.
    first_index: dict[str, int] = {}
    duplicates: list[str] = []
    for index, event in enumerate(events):
        rid = event.request_id
        if rid is None:
            continue
        if rid in first_index:
            duplicates.append(rid)
        else:
            first_index[rid] = index
    claimed = store.claim_request_ids(
        session, org=org, ids=[(rid, stamps[i]) for rid, i in first_index.items()]
    )
    duplicates.extend(rid for rid in first_index if rid not in claimed)

    # Plain lists in the hot loop: a 10,000-event batch folds into a few dozen bucket rows.
    sums: dict[BucketKey, list[int]] = {}
    for index, event in enumerate(events):
        rid = event.request_id
        if rid is not None and (first_index[rid] != index or rid not in claimed):
            continue
        family, key = resolved[index]
        ts = stamps[index]
        bucket_key = (org, family, ts - ts % BUCKET_SECONDS, key)
        row = sums.get(bucket_key)
        if row is None:
            row = sums[bucket_key] = [0, 0, 0, 0]
        row[0] += tpm_tokens(event)
        row[1] += 1
        row[2] += event.prompt_tokens
        row[3] += event.completion_tokens
    counts = {k: Counts(*v) for k, v in sums.items()}
    store.add_to_buckets(session, counts)

    per_family: dict[str, Counts] = {}
    for (_, family, _, _), c in counts.items():
        per_family[family] = per_family.get(family, Counts()) + c
    for family in sorted(per_family):
        evaluate_alert(session, org=org, family=family, now=now, settings=settings)
    accepted = sum(c.requests for c in per_family.values())
    log.info("usage for %s: %d accepted, %d duplicate(s)", org, accepted, len(duplicates))
    return {
        "org": org,
        "received": len(events),
        "accepted": accepted,
        "duplicates": len(duplicates),
        "duplicate_request_ids": duplicates[:_MAX_LISTED_DUPLICATES],
        "tokens_counted": sum(c.tokens for c in per_family.values()),
        "requests_counted": accepted,
        "pools": [
            {"family": f, "tokens": c.tokens, "requests": c.requests}
            for f, c in sorted(per_family.items())
        ],
    }
