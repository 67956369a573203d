"""The settings the environment gives, named and read in one place.

| variable | setting | default |
|---|---|---|
| `RECOVERY_DATABASE_URL` | the prediction log's database | the embedded SQLite file in data/local/ |
| `RECOVERY_CHECKPOINT` | the model every face uses (the registry not asked) | the registry's, else the committed |
| `RECOVERY_AUDIT_LOG` | the audit trail's file | logs/audit.jsonl |
| `RECOVERY_RETENTION_DAYS` | `recovery db purge` keeps this many days | none: purge asks |
| `RECOVERY_SPOOL_DIR` | where predictions wait while the log's database is away | data/local/spool/ |
| `RECOVERY_SERVICE_SETTINGS` | `recovery serve`'s options, handed to its uvicorn workers | set by `recovery serve` |

An option on the command line, or an argument in code, wins over the environment. The environment is read when a
face asks (`environment()`), not at import: an operator's change reaches the next run, and a test's reaches the test.
The files a face reads (the schema, `.streamlit/secrets.toml`, the issuers file) are named by these or by options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATABASE_ENV = "RECOVERY_DATABASE_URL"
CHECKPOINT_ENV = "RECOVERY_CHECKPOINT"
AUDIT_ENV = "RECOVERY_AUDIT_LOG"
RETENTION_ENV = "RECOVERY_RETENTION_DAYS"
SERVICE_ENV = "RECOVERY_SERVICE_SETTINGS"
SPOOL_ENV = "RECOVERY_SPOOL_DIR"


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    checkpoint: Path | None = None
    audit_log: Path | None = None
    retention_days: str | None = None
    service: str | None = None  # JSON (`ServiceSettings.to_environment`)
    spool_dir: Path | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in `environ` (default: this process's environment); an empty variable is not set."""
        found = {name: value for name, value in (os.environ if environ is None else environ).items() if value}
        return cls(database_url=found.get(DATABASE_ENV),
                   checkpoint=Path(found[CHECKPOINT_ENV]) if CHECKPOINT_ENV in found else None,
                   audit_log=Path(found[AUDIT_ENV]) if AUDIT_ENV in found else None,
                   retention_days=found.get(RETENTION_ENV), service=found.get(SERVICE_ENV),
                   spool_dir=Path(found[SPOOL_ENV]) if SPOOL_ENV in found else None)


def environment() -> Settings:
    """The settings of this process's environment, as it is now."""
    return Settings.from_environment()
