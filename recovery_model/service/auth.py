"""The EHR's bearer token, checked as CDS Hooks 2.0 asks (the JWT profile of its security section).

A token is refused unless: it is a JWT signed with ES384 or RS384 (never `none`, never an HMAC, whose secret a
forger could take from the public key); its `iss` is a configured issuer and its `kid` one of that issuer's keys
(a JWKS file, or a URL fetched and cached, fetched again once on an unknown `kid`); `aud` is exactly the URL
called; `exp`, `iat` and `jti` are present, it has not expired and was not issued in the future (a minute's
leeway); its `jti` has not been seen before within its lifetime (kept in the log's database, so every worker
shares it); and its `tenant` is the issuer's, when one is configured. PyJWT does the cryptography.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from recovery_model.errors import LogUnreachable, Refused
from recovery_model.log.store import PredictionLog
from recovery_model.log.tokens import expired_before, first_use
from recovery_model.service.settings import Issuer

ALGORITHMS = ("ES384", "RS384")
LEEWAY_S = 60
JWKS_TTL_S = 3600
SWEEP_EVERY_S = 60.0
FETCH_TIMEOUT_S = 3.0
REQUIRED = ("iss", "aud", "exp", "iat", "jti")
logger = logging.getLogger("recovery.service")


@dataclass(frozen=True)
class Caller:
    issuer: str
    subject: str | None
    tenant: str | None


class TokenVerifier:
    def __init__(self, issuers: tuple[Issuer, ...], log: PredictionLog) -> None:
        self.issuers = {i.iss: i for i in issuers}
        self.log = log
        self._keys: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._swept_at = 0.0
        self._remembered: dict[tuple[str, str], datetime] = {}  # tokens seen while the database was away

    def verify(self, authorization: str | None, audience: str) -> Caller:
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Refused(f"not a JWT ({exc})") from None
        if header.get("alg") not in ALGORITHMS:
            raise Refused(f"algorithm {header.get('alg')!r} is not accepted (only {', '.join(ALGORITHMS)})")
        issuer = self.issuers.get(str(claims.get("iss")))
        if issuer is None:
            raise Refused(f"issuer {claims.get('iss')!r} is not configured")
        key = self._key(issuer, header.get("kid"))
        try:
            verified = jwt.decode(token, key=key, algorithms=[header["alg"]], audience=audience, issuer=issuer.iss,
                                  leeway=LEEWAY_S, options={"require": list(REQUIRED)})
        except (jwt.PyJWTError, ValueError, TypeError) as exc:  # a key of the wrong type raises the latter
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        if verified["iat"] > time.time() + LEEWAY_S:
            raise Refused("issued in the future")
        if issuer.tenant is not None and verified.get("tenant") != issuer.tenant:
            raise Refused(f"tenant {verified.get('tenant')!r} is not the issuer's")
        self._first_use(issuer.iss, str(verified["jti"]), float(verified["exp"]))
        return Caller(issuer.iss, verified.get("sub"), verified.get("tenant"))

    def _key(self, issuer: Issuer, kid: Any) -> Any:
        keys = self._jwks(issuer, refresh=False)
        if kid not in keys:
            keys = self._jwks(issuer, refresh=True)
        if kid not in keys:
            raise Refused(f"key {kid!r} is not one of {issuer.iss}'s")
        return keys[kid]

    def _jwks(self, issuer: Issuer, refresh: bool) -> dict[str, Any]:
        with self._lock:
            cached = self._keys.get(issuer.iss)
            if cached and not refresh and time.monotonic() - cached[0] < JWKS_TTL_S:
                return cached[1]
            try:
                document = _load_jwks(issuer.jwks)
                keys = {k["kid"]: jwt.PyJWK(k).key for k in document.get("keys", []) if "kid" in k}
            except (OSError, ValueError, KeyError, jwt.PyJWTError) as exc:
                raise Refused(f"{issuer.iss}'s JWKS {issuer.jwks} cannot be read ({exc})") from None
            self._keys[issuer.iss] = (time.monotonic(), keys)
            return keys

    def _first_use(self, issuer: str, jti: str, expires: float) -> None:
        """Remember the token until it expires (tokens long expired are forgotten once a minute); a second use is
        a replay.

        While the log's database cannot be reached, this worker remembers the tokens it accepts: one of them sent
        to this worker again is refused. A token sent again to another worker, or first used before the outage, is
        not caught until the database is back (then the tokens remembered here are written to it). The service's
        log says so for each token."""
        forget_before = None
        if time.monotonic() - self._swept_at > SWEEP_EVERY_S:
            self._swept_at = time.monotonic()
            forget_before = expired_before(LEEWAY_S)
        until = datetime.fromtimestamp(expires, UTC)
        with self._lock:
            if (issuer, jti) in self._remembered:
                raise Refused(f"jti {jti!r} was used before (a replay, caught by this worker)")
        try:
            self._write_remembered()
            fresh = first_use(self.log, issuer, jti, until, forget_before)
        except LogUnreachable as exc:
            logger.warning("the replay cache cannot be reached (%s): token %s checked by this worker only", exc,
                           jti)
            with self._lock:
                self._remembered[(issuer, jti)] = until
            return
        if not fresh:
            raise Refused(f"jti {jti!r} was used before (a replay)")

    def _write_remembered(self) -> None:
        """The tokens this worker remembered while the database was away, written to it (a replay among them is
        already past: each was refused or answered then)."""
        with self._lock:
            remembered = sorted(self._remembered.items())
        for (issuer, jti), until in remembered:
            first_use(self.log, issuer, jti, until, None)
            with self._lock:
                self._remembered.pop((issuer, jti), None)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Refused("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused("the Authorization header is not 'Bearer <token>'")
    return token.strip()


def _load_jwks(where: str) -> dict[str, Any]:
    if where.startswith(("https://", "http://")):
        import httpx

        response = httpx.get(where, timeout=FETCH_TIMEOUT_S)
        response.raise_for_status()
        document = response.json()
    else:
        document = json.loads(Path(where).read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError("a JWKS is a JSON object with a 'keys' list")
    return document
