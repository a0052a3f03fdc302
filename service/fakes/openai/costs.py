"""The admin Costs API (``GET /v1/organization/costs``).

Costs are whatever tests seed with :meth:`CostsMixin.add_cost`. Buckets are one day wide
(the only width OpenAI offers), paged and grouped as in :mod:`.buckets`; amounts are summed
as Decimals and sent as JSON numbers, as OpenAI does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request

from service.fakes.openai.buckets import grouped, list_param, page_of_buckets, parse_bucket_query
from service.fakes.openai.core import StateCore
from service.fakes.openai.records import CostItem

__all__ = ["CostsMixin", "add_routes"]

_WIDTHS = {"1d": (7, 180)}
_GROUPABLE = frozenset({"project_id", "line_item", "api_key_id"})


class CostsMixin(StateCore):
    def add_cost(
        self,
        *,
        at: float,
        amount: Decimal,
        line_item: str,
        currency: str = "usd",
        project_id: str | None = None,
        api_key_id: str | None = None,
        quantity: float | None = None,
        quantity_unit: str | None = None,
    ) -> CostItem:
        """Record a cost at Unix time ``at`` (a test helper)."""
        item = CostItem(
            at=int(at),
            amount=Decimal(amount),
            line_item=line_item,
            currency=currency,
            project_id=project_id,
            api_key_id=api_key_id,
            quantity=quantity,
            quantity_unit=quantity_unit,
        )
        with self._lock:
            self._costs.append(item)
        return item

    def cost_items(self) -> list[CostItem]:
        with self._lock:
            return list(self._costs)


def _cost_result(
    group_by: Sequence[str], key: tuple[Any, ...], items: list[CostItem]
) -> dict[str, Any]:
    named = dict(zip(group_by, key, strict=True))
    quantities = [i.quantity for i in items]
    units = {i.quantity_unit for i in items}
    # A quantity only means something for one line item in one unit.
    same_unit = "line_item" in named and len(units) == 1 and None not in quantities
    return {
        "object": "organization.costs.result",
        "amount": {
            "value": float(sum((i.amount for i in items), Decimal(0))),
            "currency": items[0].currency,
        },
        "line_item": named.get("line_item"),
        "project_id": named.get("project_id"),
        "api_key_id": named.get("api_key_id"),
        "quantity": sum(q for q in quantities if q is not None) if same_unit else None,
        "quantity_unit": units.pop() if same_unit else None,
    }


async def costs(request: Request) -> dict[str, Any]:
    state: CostsMixin = request.app.state.fake
    query = parse_bucket_query(request, now=state.clock(), widths=_WIDTHS, groupable=_GROUPABLE)
    project_ids = set(list_param(request, "project_ids"))
    api_key_ids = set(list_param(request, "api_key_ids"))
    items = [
        i
        for i in state.cost_items()
        if (not project_ids or i.project_id in project_ids)
        and (not api_key_ids or i.api_key_id in api_key_ids)
    ]

    def results(inside: Iterable[CostItem]) -> list[dict[str, Any]]:
        groups = grouped(inside, query.group_by, lambda i, f: getattr(i, f))
        return [_cost_result(query.group_by, k, group) for k, group in groups.items()]

    return page_of_buckets(query, items, at=lambda i: i.at, results=results)


_ROUTES: tuple[tuple[str, str, Callable[..., Awaitable[Any]]], ...] = (
    ("GET", "/v1/organization/costs", costs),
)


def add_routes(app: FastAPI) -> None:
    for method, path, endpoint in _ROUTES:
        app.add_api_route(path, endpoint, methods=[method])
