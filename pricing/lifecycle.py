"""Model lifecycle as dated data: shutdowns, replacements and when fine-tuning is open.

Every answer is "as of" a date: a shutdown is only known from the day it was announced, and a
fine-tuned model stops answering when its base model shuts down (OpenAI's rule, reference S24).
Like the rest of ``pricing``, nothing here reads the clock: callers pass the date.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pricing.catalogue import FINE_TUNING_METHODS, ModelInfo, ResolvedModel, load_catalogue
from pricing.errors import InvalidCatalogueEntryError

State = Literal["not_released", "available", "deprecated", "shut_down"]
# A closing date nearer than this is worth a warning on every estimate.
CLOSING_SOON_DAYS = 90


@dataclass(frozen=True)
class PlatformEvent:
    date: dt.date
    kind: str
    text: str
    source: str
    announced: dt.date


@dataclass(frozen=True)
class Shutdown:
    models: tuple[str, ...]
    announced: date
    shutdown: date
    replacement: str | None
    source: str
    fine_tunes_shutdown: date | None = None
    notes: str = ""

    @property
    def fine_tunes_end(self) -> date:
        return self.fine_tunes_shutdown or self.shutdown


@dataclass(frozen=True)
class FineTuningWindow:
    model: str
    method: str
    opened: date | None
    closed: date | None
    source: str


@dataclass(frozen=True)
class ModelStatus:
    """One model (or a fine-tune built on it) as of a date."""

    model: str
    fine_tuned: bool
    as_of: date
    state: State
    shutdown_date: date | None
    days_left: int | None
    replacement: str | None
    announced: date | None
    source: str
    notes: str = ""

    @property
    def answers(self) -> bool:
        return self.state in ("available", "deprecated")


@dataclass(frozen=True)
class FineTuningVerdict:
    """Whether OpenAI accepts a new job of ``method`` on ``model`` on ``as_of``, and until when."""

    model: str
    method: str
    as_of: date
    accepted: bool
    reason: str
    last_day: date | None  # the last day a job can still be created
    days_left: int | None
    replacement: str | None
    warnings: tuple[str, ...] = ()


class Lifecycle:
    def __init__(
        self,
        *,
        platform: Iterable[PlatformEvent],
        shutdowns: Iterable[Shutdown],
        windows: Iterable[FineTuningWindow],
    ) -> None:
        self.platform = tuple(sorted(platform, key=lambda e: e.date))
        # A later notice for a model revises an earlier one from its own announcement on (OpenAI
        # moves dates and replacements), so each model keeps its notices in announcement order.
        self.shutdowns: dict[str, list[Shutdown]] = {}
        for notice in sorted(shutdowns, key=lambda n: n.announced):
            for model in notice.models:
                history = self.shutdowns.setdefault(model, [])
                if history and history[-1].announced == notice.announced:
                    raise InvalidCatalogueEntryError(
                        f"{model}: two shutdown notices announced on {notice.announced}"
                    )
                history.append(notice)
        # A later window for the same model and method (a published correction) wins.
        self.windows: dict[tuple[str, str], FineTuningWindow] = {
            (w.model, w.method): w for w in windows
        }

    def fine_tuning_closes(self, as_of: date) -> date | None:
        """The day no new fine-tuning job is accepted any more, anywhere, as known on ``as_of``."""
        closing = [
            e.date for e in self.platform if e.kind == "fine_tuning_closed" and e.announced <= as_of
        ]
        return min(closing) if closing else None

    def known_shutdown(self, model_id: str, as_of: date) -> Shutdown | None:
        known = [n for n in self.shutdowns.get(model_id, ()) if n.announced <= as_of]
        return known[-1] if known else None

    def status(self, model: ModelInfo, *, as_of: date, fine_tuned: bool = False) -> ModelStatus:
        notice = self.known_shutdown(model.id, as_of)
        end = None if notice is None else (notice.fine_tunes_end if fine_tuned else notice.shutdown)
        state: State
        if as_of < model.released:
            state = "not_released"
        elif end is None:
            state = "available"
        elif as_of >= end:
            state = "shut_down"
        else:
            state = "deprecated"
        return ModelStatus(
            model=model.id,
            fine_tuned=fine_tuned,
            as_of=as_of,
            state=state,
            shutdown_date=end,
            days_left=None if end is None else max((end - as_of).days, 0),
            replacement=None if notice is None else notice.replacement,
            announced=None if notice is None else notice.announced,
            source="" if notice is None else notice.source,
            notes="" if notice is None else notice.notes,
        )

    def inference_warnings(self, model: ResolvedModel, *, as_of: date) -> list[str]:
        """What a cost figure for ``model`` must say about its shutdown, as of ``as_of``."""
        s = self.status(model.model, as_of=as_of, fine_tuned=model.fine_tuned)
        name = model.requested
        instead = f"; OpenAI recommends {s.replacement}" if s.replacement else ""
        if s.state == "shut_down" and s.shutdown_date is not None:
            return [
                f"{name} stopped answering on {s.shutdown_date.isoformat()}: requests to it "
                f"fail{instead}"
            ]
        if s.state == "deprecated" and s.shutdown_date is not None:
            base = " (with its base model)" if model.fine_tuned else ""
            return [
                f"{name} shuts down{base} on {s.shutdown_date.isoformat()}, "
                f"{s.days_left} day{'s' if s.days_left != 1 else ''} from {as_of.isoformat()}"
                f"{instead}"
            ]
        if s.state == "not_released":
            return [f"{name} was not released yet on {as_of.isoformat()}"]
        return []

    def fine_tuning(self, model: ModelInfo, *, method: str, as_of: date) -> FineTuningVerdict:
        """Would OpenAI accept a new ``method`` job on ``model`` on ``as_of``? Says why not."""
        notice = self.known_shutdown(model.id, as_of)
        replacement = notice.replacement if notice else None

        def refuse(reason: str) -> FineTuningVerdict:
            return FineTuningVerdict(
                model.id, method, as_of, False, reason, None, None, replacement
            )

        if method not in FINE_TUNING_METHODS:
            return refuse(f"unknown method {method!r}; known: {', '.join(FINE_TUNING_METHODS)}")
        if method not in model.fine_tuning_methods:
            offered = ", ".join(model.fine_tuning_methods) or "none"
            return refuse(f"{model.id} does not offer {method} fine-tuning (offered: {offered})")
        window = self.windows.get((model.id, method))
        warnings: list[str] = []
        if window is not None and window.opened is not None and as_of < window.opened:
            return refuse(
                f"{method} fine-tuning of {model.id} opened on {window.opened.isoformat()}"
            )
        if window is None or window.opened is None:
            warnings.append(
                f"the date {method} fine-tuning of {model.id} opened is not known; "
                "ratecard assumes it was open"
            )
        # The first day jobs are refused: the earliest of the method's own closing, the base
        # model's shutdown and the platform-wide end of fine-tuning.
        closings: list[tuple[date, str]] = []
        if window is not None and window.closed is not None:
            closings.append((window.closed, f"{method} fine-tuning of {model.id} closed"))
        if notice is not None:
            closings.append((notice.shutdown, f"{model.id} shuts down"))
        platform = self.fine_tuning_closes(as_of)
        if platform is not None:
            closings.append((platform, "OpenAI accepts no new fine-tuning job"))
        if closings:
            first_refused, why = min(closings)
            if as_of >= first_refused:
                hint = f"; OpenAI recommends {replacement}" if replacement else ""
                return refuse(f"{why} on {first_refused.isoformat()}{hint}")
            last_day = first_refused - timedelta(days=1)
            days_left = (first_refused - as_of).days
            if days_left <= CLOSING_SOON_DAYS:
                warnings.append(
                    f"new {method} fine-tuning jobs on {model.id} are accepted until "
                    f"{last_day.isoformat()} ({days_left} day{'s' if days_left != 1 else ''} "
                    f"left): {why} on {first_refused.isoformat()}"
                )
        else:
            last_day, days_left = None, None
        for event in self.platform:
            if event.kind != "fine_tuning_closed" and event.date <= as_of:
                # OpenAI's earlier restrictions depend on the organisation's history, which
                # ratecard cannot see: a warning, not a refusal.
                warnings.append(f"since {event.date.isoformat()}, {event.text}")
        return FineTuningVerdict(
            model.id,
            method,
            as_of,
            True,
            "accepted",
            last_day,
            days_left,
            replacement,
            tuple(warnings),
        )


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidCatalogueEntryError(f"{where}: dates are YYYY-MM-DD, got {value!r}") from None


def _optional_date(data: Mapping[str, Any], key: str, where: str) -> date | None:
    return None if data.get(key) is None else _date(data[key], where)


def parse_lifecycle(data: Mapping[str, Any], *, known_models: Iterable[str]) -> Lifecycle:
    """Validate lifecycle data (shipped TOML or a published body) against the catalogue's ids."""
    known = set(known_models)

    def check(model: str, where: str) -> str:
        if model not in known:
            raise InvalidCatalogueEntryError(f"{where}: {model!r} is not in the catalogue")
        return model

    platform = [
        PlatformEvent(
            date=_date(e["date"], "platform"),
            kind=str(e["kind"]),
            text=str(e["text"]),
            source=str(e["source"]),
            announced=_date(e.get("announced", e["date"]), "platform"),
        )
        for e in data.get("platform", [])
    ]
    shutdowns = []
    for entry in data.get("shutdown", []):
        where = f"shutdown of {entry.get('models')}"
        replacement = entry.get("replacement")
        shutdowns.append(
            Shutdown(
                models=tuple(check(str(m), where) for m in entry["models"]),
                announced=_date(entry["announced"], where),
                shutdown=_date(entry["shutdown"], where),
                replacement=check(str(replacement), where) if replacement else None,
                source=str(entry.get("source", "")),
                fine_tunes_shutdown=_optional_date(entry, "fine_tunes_shutdown", where),
                notes=str(entry.get("notes", "")),
            )
        )
    windows = []
    for entry in data.get("fine_tuning", []):
        where = f"fine_tuning of {entry.get('model')}"
        if entry.get("method") not in FINE_TUNING_METHODS:
            raise InvalidCatalogueEntryError(f"{where}: unknown method {entry.get('method')!r}")
        windows.append(
            FineTuningWindow(
                model=check(str(entry["model"]), where),
                method=str(entry["method"]),
                opened=_optional_date(entry, "opened", where),
                closed=_optional_date(entry, "closed", where),
                source=str(entry.get("source", "")),
            )
        )
    return Lifecycle(platform=platform, shutdowns=shutdowns, windows=windows)


LIFECYCLE_SECTIONS = ("platform", "shutdown", "fine_tuning")


def combine_lifecycle_data(*parts: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Lifecycle data from several sources (shipped, then each publication) as one mapping."""
    return {k: [e for part in parts for e in (part.get(k) or [])] for k in LIFECYCLE_SECTIONS}


@lru_cache(maxsize=1)
def load_lifecycle_data() -> Mapping[str, Any]:
    """The lifecycle data shipped with the package, as read from its TOML file."""
    text = resources.files("pricing").joinpath("data/lifecycle.toml").read_text("utf-8")
    return tomllib.loads(text)


@lru_cache(maxsize=1)
def load_lifecycle() -> Lifecycle:
    """The shipped lifecycle (cached: it is immutable data)."""
    return parse_lifecycle(load_lifecycle_data(), known_models=load_catalogue().models)
