"""An append-only audit trail of who did what, hash-chained so that an edit or a deleted line is evident.

It records counts and file hashes, never a patient value or identifier (`verify_audit_log` checks the chain).
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recovery_model.errors import RecoveryError
from recovery_model.paths import DEFAULT_AUDIT_LOG
from recovery_model.settings import environment

AUDIT_FIELDS = frozenset({"event", "user", "role", "subject", "outcome", "page", "rows", "scored", "flagged",
                          "rejected", "file_sha256", "file_bytes", "what", "wait_seconds", "idle_minutes"})


class AuditLog:
    """Append-only JSON lines, hash-chained; only whitelisted, non-patient fields are accepted."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path or environment().audit_log or DEFAULT_AUDIT_LOG)
        self._lock = threading.Lock()

    def record(self, event: str, **details: Any) -> None:
        unknown = set(details) - AUDIT_FIELDS
        if unknown:
            raise ValueError(f"Audit fields {sorted(unknown)} are not allowed: the log holds no patient data.")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            previous = _last_line_hash(self.path)
            entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, **details,
                     "prev": previous}
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, sort_keys=True) + "\n")


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def verify_audit_log(path: str | Path) -> int:
    """The number of entries, after checking that each names the hash of the one before it."""
    previous = "start"
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if json.loads(line).get("prev") != previous:
            raise RecoveryError(f"{path}: line {number} does not follow line {number - 1}: the log was edited.")
        previous = hashlib.sha256(line.encode()).hexdigest()
    return len(lines)


def _last_line_hash(path: Path) -> str:
    if not path.is_file() or path.stat().st_size == 0:
        return "start"
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 65536))
        last = handle.read().decode("utf-8").rstrip("\n").rsplit("\n", 1)[-1]
    return hashlib.sha256(last.encode()).hexdigest()
