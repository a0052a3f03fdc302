from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from service.auth import service
from service.auth.cache import KeyCache
from service.auth.models import ApiKey
from service.deps import AdminKey, SessionDep

router = APIRouter(prefix="/v1/keys", tags=["api keys"])


class KeyCreate(BaseModel):
    name: str = Field(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@ -]+$", examples=["finance-reporting"]
    )
    scopes: list[str] = Field(
        min_length=1, examples=[["read"]], description="read, estimate, launch, admin"
    )


class KeyOut(BaseModel):
    id: int
    name: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        description="when the key was last used, to within an hour (recorded at most hourly)"
    )


class KeyCreated(KeyOut):
    secret: str = Field(description="shown once; store it now")


def _out(key: ApiKey) -> KeyOut:
    assert key.id is not None
    return KeyOut(
        id=key.id,
        name=key.name,
        scopes=sorted(key.scope_set),
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


@router.post(
    "",
    response_model=KeyCreated,
    status_code=201,
    summary="Create an API key (admin); the secret is shown once",
)
def create_key(body: KeyCreate, session: SessionDep, _: AdminKey) -> KeyCreated:
    key, secret = service.create_key(session, name=body.name, scopes=body.scopes)
    return KeyCreated(**_out(key).model_dump(), secret=secret)


@router.get("", response_model=list[KeyOut], summary="List API keys without their secrets (admin)")
def list_keys(session: SessionDep, _: AdminKey) -> list[KeyOut]:
    return [_out(k) for k in service.list_keys(session)]


@router.delete("/{key_id}", response_model=KeyOut, summary="Revoke an API key (admin)")
def revoke_key(key_id: int, request: Request, session: SessionDep, _: AdminKey) -> KeyOut:
    key = service.revoke_key(session, key_id=key_id)
    # Other replicas find out when they next store a row for the key; this one at once.
    keys: KeyCache = request.app.state.key_cache
    keys.forget_key(key_id)
    return _out(key)
