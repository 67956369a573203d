"""A CDS Hooks card for one assessed patient, in the clinician's words and, for machines, `extension.recovery`.

The summary is under the spec's 140 characters; the indicator follows the tier; the detail (Markdown) gives the top
drivers in the patient's own values, the range and what it means, an atypical-patient warning, what the record
lacked and was imputed, and the model. A patient who cannot be scored gets a card that says why, with a null
risk: never an empty answer, never a guessed risk. The extension's key is globally unique (`EXTENSION_KEY`, a
reverse-domain name, as the spec asks) and carries no null or empty value: what is unknown is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from recovery_model.schema import Schema
from recovery_model.scoring.checkpoint import ModelIdentity
from recovery_model.scoring.columns import (
    ATYPICAL,
    ATYPICAL_FEATURES,
    MISSING_RISK_HIGH,
    MISSING_RISK_LOW,
    OLDEST_VALUE_TIME,
    OUTDATED,
    RISK,
    RISK_HIGH,
    RISK_LOW,
    TIER,
    TYPICALITY,
)
from recovery_model.scoring.narrative import atypical_note, interval_text, missing_note, percent, tier_rule
from recovery_model.scoring.thresholds import Thresholds, Tier

SUMMARY_LIMIT = 139  # CDS Hooks 2.0: "<140 characters"
EXTENSION_KEY = "org.recovery-model.risk"
INDICATORS = {Tier.HIGH: "critical", Tier.MODERATE: "warning", Tier.LOW: "info", Tier.NOT_SCORED: "warning"}
NO_AUTH_NOTE = "**Not for patients:** this service runs without authentication (`--no-auth`)."
OLD_AFTER = timedelta(days=1)  # the card says when the oldest value used is older than this


@dataclass(frozen=True)
class CardContext:
    """What a card is made with besides the patient's row: the model (its schema, tiers and name), the index time,
    the card's uuid, where it links to (`patient`, `model`: the dashboard's pages) and whether the service runs
    without authentication."""

    schema: Schema
    thresholds: Thresholds
    model: ModelIdentity
    as_of: datetime
    card_uuid: str
    links: dict[str, str]
    no_auth: bool


def risk_card(row: pd.Series, drivers: list[str], missing: list[str], context: CardContext) -> dict[str, Any]:
    """The card of a scored patient; `missing`: the features the record lacked (imputed for the risk)."""
    schema, thresholds, as_of = context.schema, context.thresholds, context.as_of
    risk, low, high, tier = float(row[RISK]), float(row[RISK_LOW]), float(row[RISK_HIGH]), str(row[TIER])
    summary = f"{schema.target.risk_of.capitalize()} {percent(risk)} ({percent(low)}–{percent(high)}): {tier}"
    detail = [f"**{percent(risk)}** ({percent(low)}–{percent(high)}), **{tier}** tier ({tier_rule(tier, thresholds)})."]
    if drivers:
        detail.append("Top drivers: " + "; ".join(drivers) + ". They explain the model, not the cause.")
    detail.append(interval_text(low, high, schema.target))
    if bool(row[ATYPICAL]):
        detail.append(f"**{atypical_note(float(row[TYPICALITY]), str(row[ATYPICAL_FEATURES]))}**")
    names = [schema.feature(n).display_name for n in missing]
    if lacks := missing_note(names, float(row[MISSING_RISK_LOW]), float(row[MISSING_RISK_HIGH]), low, high):
        detail.append(lacks)
    oldest = _oldest(row)
    detail += _age_notes(row, oldest, as_of)
    return _card(summary, INDICATORS[Tier(tier)], detail, context,
                 _extension(risk, low, high, tier, bool(row[ATYPICAL]), missing, context, oldest))


def not_scored_card(reason: str, missing: list[str], context: CardContext, outdated: str = "") -> dict[str, Any]:
    """The card of a patient the model cannot score: why, what the record lacks, and which of its values are too
    old to use (measuring them again is what would let the patient be scored)."""
    schema = context.schema
    summary = _fit(f"{schema.target.risk_of.capitalize()}: not scored ({reason})")
    detail = [f"This patient was **not scored**: {reason}."]
    if missing:
        detail.append("The record lacks: " + ", ".join(schema.feature(n).display_name for n in missing) + ".")
    if outdated:
        detail.append(f"**Too old to use, so not recorded:** {outdated}. Measured again, they would count.")
    return _card(summary, INDICATORS[Tier.NOT_SCORED], detail, context,
                 _extension(None, None, None, str(Tier.NOT_SCORED), None, missing, context))


def _card(summary: str, indicator: str, detail: list[str], context: CardContext,
          extension: dict[str, Any]) -> dict[str, Any]:
    model, links = context.model, context.links
    detail.append(f"Model {model.version} (`{model.short_digest}`). Decision support, not a diagnosis.")
    if context.no_auth:
        detail.insert(0, NO_AUTH_NOTE)
    source = ({"label": f"recovery: {context.schema.target.risk_of}"}
              | ({"url": links["model"]} if "model" in links else {}))
    card: dict[str, Any] = {"uuid": context.card_uuid, "summary": _fit(summary), "indicator": indicator,
            "detail": "\n\n".join(detail), "source": source, "extension": {EXTENSION_KEY: extension}}
    if "patient" in links:
        card["links"] = [{"label": "Open in recovery", "url": links["patient"], "type": "absolute"}]
    return card


def _oldest(row: pd.Series) -> datetime | None:
    text = row.get(OLDEST_VALUE_TIME)
    return pd.Timestamp(text).to_pydatetime() if isinstance(text, str) and text else None


def _age_notes(row: pd.Series, oldest: datetime | None, as_of: datetime) -> list[str]:
    """What the risk rests on in time: values too old to use, and the oldest one used when over a day old."""
    notes = []
    if outdated := str(row.get(OUTDATED) or ""):
        notes.append(f"**Too old to use, so not recorded:** {outdated}.")
    if oldest is not None and as_of - oldest > OLD_AFTER:
        days = (as_of - oldest).days
        notes.append(f"**The oldest value used was measured {oldest:%Y-%m-%d %H:%M} UTC**, {days} "
                     f"day{'' if days == 1 else 's'} before this estimate.")
    return notes


def _extension(risk: float | None, low: float | None, high: float | None, tier: str, atypical: bool | None,
               missing: list[str], context: CardContext, oldest: datetime | None = None) -> dict[str, Any]:
    values = {"risk": risk, "risk_low": low, "risk_high": high, "tier": tier, "atypical": atypical,
              "missing": list(missing), "as_of": context.as_of.isoformat(),
              "oldest_value_time": oldest.isoformat() if oldest else None, "model_digest": context.model.digest}
    return {key: value for key, value in values.items() if value is not None and value != []}


def _fit(text: str) -> str:
    return text if len(text) <= SUMMARY_LIMIT else text[:SUMMARY_LIMIT - 1] + "…"
