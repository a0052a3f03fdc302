from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

SlackId = Annotated[
    str,
    Field(
        pattern=r"^[CGDUW][A-Z0-9]{2,39}$",
        examples=["C0123ABCD", "U0123ABCD"],
        description="a Slack channel id (C…, G…), DM id (D…) or user id (U…, W…); not a #name",
    ),
]
JobRef = Annotated[
    str,
    Field(
        pattern=r"^(job_|ftjob-)[A-Za-z0-9_-]{1,94}$",
        examples=["job_0190a1b2c3d4", "ftjob-abc123"],
        description="a ratecard job id (job_…) or an OpenAI fine-tuning job id (ftjob-…)",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]
DeliveryStatus = Literal["pending", "sending", "delivered", "failed", "disabled"]


class SlackDestination(BaseModel):
    type: Literal["slack"]
    channel: SlackId


class WebhookDestinationIn(BaseModel):
    type: Literal["webhook"]
    url: str = Field(
        min_length=1, max_length=2000, examples=["https://finance.example.com/hooks/ratecard"]
    )
    secret: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Standard Webhooks secret `whsec_<base64>` (24-64 bytes); generated if omitted",
    )


class WebhookDestinationOut(BaseModel):
    type: Literal["webhook"]
    url: str = Field(
        description="in full for admin keys (and in the answer to its creation); other keys see "
        "`scheme://host[:port]/…` only, since paths and queries often carry tokens"
    )


class FollowJob(BaseModel):
    type: Literal["job"]
    job_id: JobRef


class FollowTeam(BaseModel):
    type: Literal["team"]
    team: Name


class FollowAllJobs(BaseModel):
    type: Literal["all_jobs"]


class FollowTpm(BaseModel):
    type: Literal["tpm"]
    family: str = Field(
        min_length=1,
        max_length=100,
        examples=["gpt-3.5-turbo"],
        description="rate-limit pool; any model name of the family is accepted and normalised",
    )
    threshold_pct: int | None = Field(
        None,
        ge=1,
        le=100,
        description="only hear about the pool above this utilisation (default: every crossing)",
    )


class FollowFineTuning(BaseModel):
    type: Literal["fine_tuning"]
    model: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        pattern=r"^ft:\S+$",
        description="only this fine-tuned model's countdown (default: every model, and the "
        "closing of fine-tuning)",
    )


class FollowBilling(BaseModel):
    type: Literal["billing"]
    period: Literal["daily", "weekly", "monthly"] = Field(
        description="hear the reconciliation summary (OpenAI's bill beside ratecard's figures) "
        "once per day, ISO week or calendar month, after it ends (UTC)"
    )
    threshold_pct: int | None = Field(
        None, ge=1, le=100, description="flag differences beyond this percentage (default 1)"
    )


Destination = Annotated[SlackDestination | WebhookDestinationIn, Field(discriminator="type")]
DestinationOut = Annotated[SlackDestination | WebhookDestinationOut, Field(discriminator="type")]
Follows = Annotated[
    FollowJob | FollowTeam | FollowAllJobs | FollowTpm | FollowFineTuning | FollowBilling,
    Field(discriminator="type"),
]


class SubscriptionIn(BaseModel):
    destination: Destination
    follows: Follows
    created_by: Name | None = Field(None, examples=["slack:U0123ABCD"])


class SubscriptionOut(BaseModel):
    id: str
    destination: DestinationOut
    follows: Follows
    created_by: str | None
    created_at: datetime
    status: Literal["active", "disabled"]
    disabled_reason: str | None = None


class SubscriptionCreated(SubscriptionOut):
    webhook_secret: str | None = Field(
        None, description="webhooks only, shown once: verify `webhook-signature` with it"
    )


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None


class AlertOut(BaseModel):
    id: str
    webhook_id: str = Field(
        description="the `webhook-id` header; the same on every retry of this alert"
    )
    event_id: int
    event_kind: str
    subject: str
    subscription_id: str
    destination: DestinationOut
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="when a pending alert is tried next")
    last_attempt_at: datetime | None
    last_error: str | None = Field(
        description="our account of the last failure (status, reason); never the receiver's body"
    )
    delivered_at: datetime | None
    created_at: datetime


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None
