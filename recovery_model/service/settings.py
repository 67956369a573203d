"""What one service runs with: its options (`recovery serve`), and the EHRs it trusts (the issuers file).

The issuers file is TOML, one `[[issuer]]` per EHR:

    [[issuer]]
    iss = "https://ehr.example.org"
    jwks = "ehr-jwks.json"        # a file (relative to this one), or an https:// URL fetched and cached
    tenant = "..."                # optional: the `tenant` claim its tokens must carry
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from recovery_model.errors import ServiceConfigError
from recovery_model.log import MODEL_CHECK_S
from recovery_model.parameters import HOURS_IN_A_YEAR, check
from recovery_model.settings import SERVICE_ENV, environment


@dataclass(frozen=True)
class Issuer:
    iss: str
    jwks: str  # a path or an https:// URL
    tenant: str | None = None


@dataclass(frozen=True)
class ServiceSettings:
    checkpoint: str | None = None
    issuers: tuple[Issuer, ...] = ()
    no_auth: bool = False
    public_url: str | None = None
    dashboard_url: str | None = None
    silent: bool = False
    cors_origins: tuple[str, ...] = ()
    body_limit_bytes: int = 5 * 1024 * 1024
    fhir_timeout_s: float = 2.0
    repeat_hours: float = 24.0  # a card shown outside an encounter is shown again to the same clinician after this
    model_check_s: float = MODEL_CHECK_S  # how often each worker asks the registry which model is in use

    def __post_init__(self) -> None:
        check("repeat_hours", self.repeat_hours, HOURS_IN_A_YEAR)
        if not self.no_auth and not self.issuers:
            raise ServiceConfigError("The service trusts no EHR: give --issuers FILE (the issuers and their keys), or "
                                     "--no-auth to try it on this machine only.")

    def to_environment(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> ServiceSettings:
        given = environment().service
        if given is None:
            raise ServiceConfigError(f"${SERVICE_ENV} is not set: start the service with `recovery serve`.")
        data = json.loads(given)
        data["issuers"] = tuple(Issuer(**i) for i in data["issuers"])
        data["cors_origins"] = tuple(data["cors_origins"])
        return cls(**data)


def read_issuers(path: Path) -> tuple[Issuer, ...]:
    """The issuers file, each JWKS path made absolute; refused with the line to fix."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServiceConfigError(f"--issuers {path}: no such file.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ServiceConfigError(f"--issuers {path} is not valid TOML: {exc}.") from None
    issuers = []
    for number, entry in enumerate(data.get("issuer", []), start=1):
        missing = [k for k in ("iss", "jwks") if not entry.get(k)]
        if missing:
            raise ServiceConfigError(f"--issuers {path}: issuer {number} lacks {' and '.join(missing)}.")
        jwks = str(entry["jwks"])
        if not jwks.startswith(("https://", "http://")):
            jwks = str((path.parent / jwks).resolve())
            if not Path(jwks).is_file():
                raise ServiceConfigError(f"--issuers {path}: issuer {entry['iss']}'s JWKS file {jwks} does not exist.")
        issuers.append(Issuer(str(entry["iss"]), jwks, entry.get("tenant")))
    if not issuers:
        raise ServiceConfigError(f"--issuers {path} names no [[issuer]].")
    return tuple(issuers)
