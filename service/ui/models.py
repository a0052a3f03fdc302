"""The dashboard's server-side sessions: one row per signed-in browser.

The cookie holds a random token; the row holds only its SHA-256 digest, so the table (a backup,
a read-only replica, a leaked dump) gives nobody a usable cookie. Every replica reads the same
rows, so a session signed in on one is valid on all and a sign-out on one ends it on all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from service.types import UTCDateTime


class UiSessionRow(SQLModel, table=True):
    __tablename__ = "ui_sessions"

    token_digest: str = Field(primary_key=True, max_length=64)  # sha256 hex of the cookie token
    key_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The absolute end (created_at + the absolute timeout at sign-in); the idle end is read
    # from last_seen_at and the idle timeout in force, so lowering it takes effect at once.
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
