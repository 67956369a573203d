"""Who may see what, sign-in with slowed-down retries, and an append-only audit trail.

Passwords are stored only as Argon2id hashes (argon2-cffi). The audit log records who did what
and when, with counts and file hashes, never a patient value or identifier; each line carries the
SHA-256 of the line before it, so an edit or a deleted line is evident (`verify_audit_log`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from recovery_model.errors import RecoveryError
from recovery_model.paths import DEFAULT_AUDIT_LOG


class Role(StrEnum):
    CLINICIAN = "clinician"
    BED_MANAGER = "bed_manager"
    ANALYST = "analyst"
    ADMIN = "admin"


class Page(StrEnum):
    HOME = "home"
    PATIENT = "patient"
    WARD = "ward"
    MODEL = "model"
    MONITORING = "monitoring"


ROLES: dict[str, frozenset[str]] = {
    Role.CLINICIAN: frozenset({Page.PATIENT}),
    Role.BED_MANAGER: frozenset({Page.WARD}),
    Role.ANALYST: frozenset({Page.MODEL, Page.MONITORING}),
    Role.ADMIN: frozenset({Page.PATIENT, Page.WARD, Page.MODEL, Page.MONITORING}),
}
OPEN_ACCESS = "open"
FREE_ATTEMPTS, MAX_WAIT_SECONDS = 3, 300
AUDIT_ENV = "RECOVERY_AUDIT_LOG"
AUDIT_FIELDS = frozenset({"event", "user", "role", "outcome", "page", "rows", "scored", "flagged", "rejected",
                          "file_sha256", "file_bytes", "what", "wait_seconds"})


@functools.cache
def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so that a wrong name takes as long as a wrong password.
    Made on first sign-in, not at import: hashing takes 0.2 s, and every page imports this module."""
    return _hasher().hash("timing-equaliser")


class AccessConfigError(RecoveryError):
    """The users section of secrets.toml is malformed."""


def hash_password(password: str) -> str:
    if not password:
        raise AccessConfigError("A password cannot be empty.")
    return _hasher().hash(password)


def pages_for(role: str) -> frozenset[str]:
    """Pages a role may open (Home is open to every signed-in user)."""
    return ROLES["admin"] if role == OPEN_ACCESS else ROLES.get(role, frozenset())


@dataclass(frozen=True)
class User:
    name: str
    role: str


@dataclass(frozen=True)
class Users:
    """The configured accounts: name → (Argon2 hash, role)."""

    accounts: Mapping[str, tuple[str, str]]

    @classmethod
    def from_secrets(cls, section: Mapping[str, Any] | None) -> Users | None:
        """Read `[recovery_users.NAME] password_hash = ..., role = ...`; None when nothing is configured."""
        if not section:
            return None
        accounts = {}
        for name, entry in section.items():
            if not isinstance(entry, Mapping) or "password_hash" not in entry or "role" not in entry:
                raise AccessConfigError(f"secrets.toml: user '{name}' needs password_hash and role.")
            if entry["role"] not in ROLES:
                raise AccessConfigError(f"secrets.toml: user '{name}' has role '{entry['role']}'; "
                                        f"use one of {sorted(ROLES)}.")
            if not str(entry["password_hash"]).startswith("$argon2"):
                raise AccessConfigError(f"secrets.toml: user '{name}' has no Argon2 hash; make one with "
                                        "`recovery hash-password` (plain passwords are never stored).")
            accounts[str(name)] = (str(entry["password_hash"]), str(entry["role"]))
        return cls(accounts)


@dataclass
class SignIn:
    """Checks passwords, slowing down repeated failures per user name (shared by all sessions)."""

    users: Users
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, int] = field(default_factory=dict)
    _blocked_until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_seconds(self, name: str) -> float:
        with self._lock:
            return max(0.0, self._blocked_until.get(name.lower(), 0.0) - self.clock())

    def attempt(self, name: str, password: str) -> User | None:
        """The user on success; None on a wrong name or password. Raises while a user must wait."""
        key = name.lower()
        wait = self.wait_seconds(name)
        if wait > 0:
            raise TooManyAttempts(wait)
        from argon2.exceptions import InvalidHashError, VerificationError

        stored = self.users.accounts.get(name)
        try:
            _hasher().verify(stored[0] if stored else _dummy_hash(), password)
            ok = stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
        with self._lock:
            if ok:
                self._failures.pop(key, None)
                self._blocked_until.pop(key, None)
                return User(name, stored[1])
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            if failures >= FREE_ATTEMPTS:
                delay = min(MAX_WAIT_SECONDS, 2.0 ** (failures - FREE_ATTEMPTS + 1))
                self._blocked_until[key] = self.clock() + delay
        return None


class TooManyAttempts(RecoveryError):
    def __init__(self, wait: float) -> None:
        super().__init__(f"Too many failed sign-ins for this user name. Try again in {wait:.0f} s.")
        self.wait = wait


class AuditLog:
    """Append-only JSON lines, hash-chained; only whitelisted, non-patient fields are accepted."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path or os.environ.get(AUDIT_ENV) or DEFAULT_AUDIT_LOG)
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
