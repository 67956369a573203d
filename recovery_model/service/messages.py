"""The service's requests and answers as types: FastAPI checks the requests, and `/docs` (OpenAPI) describes both.

Requests name the CDS Hooks 2.0 fields this service reads; other fields are allowed and ignored. A card is kept
as the spec's JSON object (its `extension` is ours, `org.recovery-model.risk`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class HookRequest(BaseModel):
    """A CDS Hooks service call."""

    hook: str
    hookInstance: str
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None


class FeedbackItem(BaseModel):
    card: str
    outcome: str = Field(pattern="^(accepted|overridden)$")
    overrideReason: dict[str, Any] | None = None
    acceptedSuggestions: list[dict[str, Any]] = []
    outcomeTimestamp: str | None = None


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem]


class ServiceDescription(BaseModel):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]


class Discovery(BaseModel):
    services: list[ServiceDescription]


class Cards(BaseModel):
    """The cards of one call: one, or none when the card is held back (shown already, silent mode, switched off)."""

    cards: list[dict[str, Any]]


class FeedbackCounts(BaseModel):
    recorded: int
    already_recorded: int


class Scores(BaseModel):
    """One result per row sent, with the columns `recovery predict` writes (`driver_1` … for a scored row)."""

    results: list[dict[str, Any]]
    model_digest: str


class TierThresholds(BaseModel):
    high: float
    moderate: float


class ModelDescription(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    version: str
    model_digest: str
    schema_: dict[str, Any] = Field(alias="schema")
    thresholds: TierThresholds


class Health(BaseModel):
    status: str
    model_digest: str
    model_version: str
    model_problem: str | None = Field(None, description="Why the model the registry names is not in use (absent: "
                                                        "it is)")
    kept: int | None = Field(None, description="Writes kept on this server while the prediction log's database "
                                               "cannot be reached, to be written when it is back (absent: none)")
