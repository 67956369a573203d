"""Local accounts for small sites and trials: Argon2id hashes in secrets.toml, sign-in with slowed-down retries.

Used only when no identity provider ([auth]) is configured. Passwords are stored only as hashes (argon2-cffi).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recovery_model.access.roles import ROLES, User
from recovery_model.errors import AccessConfigError, TooManyAttempts

USERS_SECTION = "recovery_users"  # in secrets.toml: [recovery_users.NAME] password_hash = ..., role = ...
FREE_ATTEMPTS, MAX_WAIT_SECONDS = 3, 300


@functools.cache
def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so that a wrong name takes as long as a wrong password.
    Made on first sign-in, not at import: hashing takes 0.2 s, and every page imports this module."""
    return _hasher().hash("timing-equaliser")


def hash_password(password: str) -> str:
    if not password:
        raise AccessConfigError("A password cannot be empty.")
    return _hasher().hash(password)


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
                return User(name, stored[1]) if stored else None
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            if failures >= FREE_ATTEMPTS:
                delay = min(MAX_WAIT_SECONDS, 2.0 ** (failures - FREE_ATTEMPTS + 1))
                self._blocked_until[key] = self.clock() + delay
        return None
