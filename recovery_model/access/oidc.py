"""Sign-in through the hospital's OpenID Connect provider: its settings and metadata, and the user a token names.

Streamlit's `st.login` does the protocol (Authlib); this module checks what it cannot: that every setting is
there before the first sign-in, that the provider answers, and which of our roles the ID token's claim grants.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from recovery_model.access.roles import NO_ROLE, ROLES, User, combined_role
from recovery_model.errors import AccessConfigError

AUTH_SECTION, ROLES_SECTION = "auth", "recovery_roles"
PROVIDER_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
CALLBACK_PATH = "/oauth2callback"  # the path Streamlit serves the provider's answer on
MIN_COOKIE_SECRET = 32
NAME_CLAIMS = ("name", "preferred_username", "email", "sub")


def check_provider_settings(section: Mapping[str, Any]) -> str:
    """The metadata URL, after checking each setting `st.login` needs; the error names the one to fix."""
    if not isinstance(section, Mapping):
        raise AccessConfigError("secrets.toml: [auth] must be a table of settings (see the README, Sign-in).")
    missing = [key for key in PROVIDER_KEYS if not str(section.get(key) or "").strip()]
    if missing:
        raise AccessConfigError(f"secrets.toml: [auth] needs {', '.join(missing)} (see the README, Sign-in).")
    redirect = urlparse(str(section["redirect_uri"]))
    if redirect.scheme not in ("http", "https") or not redirect.path.endswith(CALLBACK_PATH):
        raise AccessConfigError(f"secrets.toml: [auth] redirect_uri must be this app's address followed by "
                                f"{CALLBACK_PATH} (e.g. https://recovery.example.org{CALLBACK_PATH}), not "
                                f"'{section['redirect_uri']}'.")
    if len(str(section["cookie_secret"])) < MIN_COOKIE_SECRET:
        raise AccessConfigError(f"secrets.toml: [auth] cookie_secret must be at least {MIN_COOKIE_SECRET} "
                                "random characters; make one with `python -c \"import secrets; "
                                "print(secrets.token_hex(32))\"`.")
    metadata = urlparse(str(section["server_metadata_url"]))
    if metadata.scheme not in ("http", "https") or not metadata.netloc:
        raise AccessConfigError(f"secrets.toml: [auth] server_metadata_url must be an http(s) address, e.g. "
                                f"https://idp.example.org/.well-known/openid-configuration, not "
                                f"'{section['server_metadata_url']}'.")
    return str(section["server_metadata_url"])


def provider_metadata(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """The provider's OpenID configuration document, or an error naming server_metadata_url and what went wrong."""
    where = f"secrets.toml: [auth] server_metadata_url ({url})"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AccessConfigError(f"{where} answered HTTP {exc.code}: check the address.") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(exc, ValueError) and not isinstance(exc, urllib.error.URLError):
            reason = "its answer is not a JSON OpenID configuration"
        raise AccessConfigError(f"{where} cannot be used: {reason}. Check the address, and that this server "
                                "can reach the identity provider.") from None
    if not isinstance(document, dict) or "authorization_endpoint" not in document:
        raise AccessConfigError(f"{where} is not an OpenID configuration (no authorization_endpoint): it should "
                                "end in /.well-known/openid-configuration.")
    return document


@dataclass(frozen=True)
class RoleClaim:
    """Which ID-token claim lists the user's roles, and how the provider's values map onto ours."""

    claim: str = "roles"
    mapping: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_secrets(cls, section: Mapping[str, Any] | None) -> RoleClaim:
        """Read `[recovery_roles] claim = "roles"`, `map = { "ward-staff" = "bed_manager" }`."""
        if section is not None and not isinstance(section, Mapping):
            raise AccessConfigError("secrets.toml: [recovery_roles] must be a table, e.g. [recovery_roles] "
                                    "claim = \"roles\".")
        section = section or {}
        claim = section.get("claim", "roles")
        if not isinstance(claim, str) or not claim.strip():
            raise AccessConfigError("secrets.toml: [recovery_roles] claim must name the ID-token claim that lists "
                                    "the user's roles, e.g. claim = \"roles\".")
        mapping = section.get("map", {})
        if not isinstance(mapping, Mapping):
            raise AccessConfigError("secrets.toml: [recovery_roles] map must be a table, e.g. "
                                    "map = { \"ward-staff\" = \"bed_manager\" }.")
        for theirs, ours in mapping.items():
            if not isinstance(ours, str) or ours not in ROLES:
                raise AccessConfigError(f"secrets.toml: [recovery_roles] map sends '{theirs}' to '{ours}', which "
                                        f"is not a role; use one of {sorted(ROLES)}.")
        return cls(claim.strip(), dict(mapping))

    def roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """Our roles among the claim's values (a dotted claim reads a nested one, e.g. realm_access.roles)."""
        value: Any = claims
        for part in self.claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise AccessConfigError(f"The identity provider's '{self.claim}' claim holds {type(value).__name__} "
                                    f"{json.dumps(value)[:80]}, not a list of strings: set [recovery_roles] claim "
                                    "in secrets.toml to the claim that lists the user's roles.")
        return frozenset(role for role in (self.mapping.get(item, item) for item in value) if role in ROLES)


def user_from_claims(claims: Mapping[str, Any], role_claim: RoleClaim) -> User:
    """The signed-in user an ID token names; role NO_ROLE when the claim grants none of ours."""
    name = next((str(claims[key]) for key in NAME_CLAIMS if claims.get(key)), "unknown")
    roles = role_claim.roles(claims)
    return User(name, combined_role(roles) if roles else NO_ROLE, subject=str(claims.get("sub", "")))


def login_key(claims: Mapping[str, Any]) -> str:
    """One sign-in at the provider: the same across reloads and tabs, new at the next sign-in (its time and nonce)."""
    return hashlib.sha256(json.dumps([str(claims.get(key, "")) for key in ("iss", "sub", "iat", "nonce")])
                          .encode()).hexdigest()


def issued_at(claims: Mapping[str, Any]) -> float:
    """When the provider made this sign-in (the ID token's `iat`), which the idle time-out and the maximum age
    count from; a token without it cannot be timed out, so it is refused."""
    value = claims.get("iat")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccessConfigError("The identity provider's ID token has no 'iat' (issued-at) claim, so this sign-in "
                                "cannot be timed out; OpenID Connect requires it: check the provider's settings.")
    return float(value)
