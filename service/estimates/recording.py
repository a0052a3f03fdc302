"""How a JSON estimate request is priced and stored.

The fast path prices with this process's cached price reference and cached key, in the event
loop, and hands the row to the group-commit writer, which stores it only if the prices are still
current and the key still unrevoked. Anything else (nothing cached yet, prices published or the
key revoked since, a batch whose transaction failed, an error that a fresher reference might not
give) takes the authoritative path: one transaction that authenticates, loads the reference and
stores the row, exactly as every other endpoint works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic_core import to_json
from sqlalchemy.engine import Engine

from pricing.errors import PricingError
from service.auth.cache import KeyCache
from service.auth.service import authenticate
from service.db import session_scope
from service.deps import BearerDep, Caller, cached_caller, require_scope
from service.errors import ServiceError
from service.estimates.group_commit import EstimateWriter, NotStored
from service.estimates.service import NewEstimate, store, store_once, stored_result
from service.prices.service import Reference, cached_reference, load_reference

log = logging.getLogger(__name__)

# (price reference, requesting key's name) -> the priced, unstored estimate
Pricer = Callable[[Reference, str], NewEstimate]
SCOPE = "estimate"


class CompactJSONResponse(JSONResponse):
    """JSON encoded by pydantic-core: the same document as the standard library's, 4x faster."""

    def render(self, content: Any) -> bytes:
        return to_json(content)


@dataclass(frozen=True)
class Recorder:
    caller: Caller
    engine: Engine
    writer: EstimateWriter
    keys: KeyCache

    async def record(self, price: Pricer, *, cheap: bool = True) -> JSONResponse:
        """Price and store an estimate; returns the 201 response once the row is committed.

        `cheap`: pricing takes microseconds and may run in the event loop; otherwise (a training
        request with a million token lengths takes most of a second) it runs in the threadpool.
        """
        return CompactJSONResponse(await self._record(price, cheap), status_code=201)

    async def _record(self, price: Pricer, cheap: bool) -> dict[str, Any]:
        # The result dicts are built to the response schemas (the API tests hold every response
        # to them), so the route returns a ready response: FastAPI's re-validation of the
        # returned dict was a tenth of the estimate endpoint's cost per request.
        reference = cached_reference(self.engine)
        principal = self.caller.principal
        estimate_id: str | None = None  # the id the fast path gave the estimate, if it got one
        if reference is not None:
            try:
                if cheap:
                    new = price(reference, principal.name)
                else:
                    new = await run_in_threadpool(price, reference, principal.name)
            except (PricingError, ServiceError):
                new = None  # perhaps only because the cached reference is behind: ask the database
            if new is not None:
                try:
                    await self.writer.write(
                        new.row, reference_revision=new.reference_revision, key_id=principal.key_id
                    )
                    return new.result
                except NotStored:
                    log.debug("estimate not stored by its batch: estimating on the full path")
                    self.keys.forget(self.caller.secret)
                    estimate_id = new.result["id"]
        return await run_in_threadpool(
            _record_authoritatively,
            engine=self.engine,
            keys=self.keys,
            secret=self.caller.secret,
            scope=SCOPE,
            price=price,
            estimate_id=estimate_id,
        )


async def get_recorder(request: Request, credentials: BearerDep) -> Recorder:
    caller = await cached_caller(request, credentials, scope=SCOPE)
    state = request.app.state
    return Recorder(caller, state.engine, state.estimate_writer, state.key_cache)


RecorderDep = Annotated[Recorder, Depends(get_recorder)]


def _record_authoritatively(
    *,
    engine: Engine,
    keys: KeyCache,
    secret: str,
    scope: str,
    price: Pricer,
    estimate_id: str | None,
) -> dict[str, Any]:
    """`estimate_id`: the id of a fast-path attempt whose batch reported it unstored. The redo
    keeps it, so a batch that did commit before its error (a connection lost after COMMIT, a
    flush cancelled at shutdown) leaves one record, not two."""
    with session_scope(engine) as session:
        principal = authenticate(session, secret=secret)
        require_scope(principal, scope)
        # Looked up before pricing: an estimate that was stored is answered as it was stored,
        # even if pricing it again would now fail.
        result = None if estimate_id is None else stored_result(session, estimate_id)
        if result is None:
            new = price(load_reference(session), principal.name)
            if estimate_id is None:
                result = store(session, new)
            else:
                result = store_once(session, new.with_id(estimate_id))
    keys.put(secret, principal)
    return result
