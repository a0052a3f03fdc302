"""The model list as of a date: what each model is, its state, and how long it has left."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class FineTuningOut(BaseModel):
    method: Literal["supervised", "preference", "reinforcement"]
    accepted: bool = Field(description="whether OpenAI accepts a new job of this method that day")
    reason: str
    last_day: date | None = Field(None, description="the last day a new job is accepted")
    days_left: int | None = None
    warnings: list[str] = Field(default_factory=list)


class ModelOut(BaseModel):
    id: str = Field(examples=["gpt-4o-mini-2024-07-18"])
    requested: str | None = Field(None, description="the name asked for, when one was given")
    fine_tuned: bool = Field(False, description="the name is a fine-tune; its base's dates apply")
    family: str = Field(description="the rate-limit pool it shares")
    context_window: int
    long_context_threshold: int | None = Field(
        None,
        description="prompts over this many tokens bill the whole request at long-context prices",
    )
    encoding: str
    released: date
    state: Literal["not_released", "available", "deprecated", "shut_down"]
    shutdown_date: date | None = Field(None, description="null: no shutdown announced by as_of")
    days_left: int | None = None
    replacement: str | None = Field(None, description="OpenAI's recommended replacement")
    announced: date | None = None
    source: str = Field("", description="where the shutdown date comes from")
    fine_tuning: list[FineTuningOut] = Field(default_factory=list)
    notes: str = ""


class PlatformEventOut(BaseModel):
    date: date
    kind: str
    text: str
    source: str


class ModelList(BaseModel):
    as_of: date
    fine_tuning_closes: date | None = Field(
        None, description="the day OpenAI stops accepting any new fine-tuning job"
    )
    platform: list[PlatformEventOut]
    models: list[ModelOut]
    aliases: dict[str, str] = Field(description="undated names and the snapshot each means as_of")
