"""CDS Hooks feedback messages (what the clinician did with a card), read into the log's `CardFeedback`."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from recovery_model.log.cards import CardFeedback
from recovery_model.times import parse_start


def card_feedback(item: dict[str, Any]) -> CardFeedback:
    """One message of a feedback call, as the log keeps it (its digest taken over the message as sent)."""
    return CardFeedback(card_uuid=item["card"], outcome=item["outcome"], reasons=_reasons(item),
                        outcome_time=_time(item.get("outcomeTimestamp")),
                        message_sha256=hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest())


def _reasons(item: dict[str, Any]) -> list[str]:
    reason = (item.get("overrideReason") or {}).get("reason") or {}
    comment = (item.get("overrideReason") or {}).get("userComment")
    return [text for text in (reason.get("display") or reason.get("code"), comment) if text]


def _time(text: str | None) -> datetime | None:
    return parse_start(text.replace("Z", "+00:00"), "outcomeTimestamp") if text else None
