"""The model registry, in the log's database: which checkpoints a hospital knows, which one is in use, and every
change of it with who made it and why.

A model is known by its digest (the checkpoint's own SHA-256). Promoting a model makes it the one every face uses
(the CLI on its next run, the dashboard and each service worker within `MODEL_CHECK_S`); rolling back undoes the
latest promotion not yet undone. Each change is a row of `model_changes`, never rewritten. A checkpoint that no
longer has the digest it was registered with is refused, naming both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, RowMapping, insert, select, update

from recovery_model.errors import CheckpointError, RegistryError
from recovery_model.log.database import locate, revisions
from recovery_model.log.store import PredictionLog
from recovery_model.log.tables import model_changes, models
from recovery_model.paths import DEFAULT_CHECKPOINT, DEFAULT_DATABASE, checkpoint_folder
from recovery_model.scoring.checkpoint import CheckpointHeader, read_header
from recovery_model.settings import environment

ACTIVE, SHADOW, REGISTERED, RETIRED = "active", "shadow", "registered", "retired"
IN_USE_CHANGES = ("promote", "rollback")  # the changes of the model in use (shadowing is not one)
REGISTRY_REVISION = "0005"  # the migration that made the registry





@dataclass(frozen=True)
class Registered:
    digest: str
    version: str
    location: str
    status: str


class ModelRegistry:
    """The registry of one log's database."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def active(self) -> Registered | None:
        """The model in use by the registry's say, or None when no model was ever promoted here."""
        with self.log.connection() as connection:
            row = connection.execute(select(models).where(models.c.status == ACTIVE)).mappings().first()
        return None if row is None else _registered(row)

    def find(self, name: str) -> Registered:
        """A registered model by its version, or by the start of its digest (at least 8 characters)."""
        with self.log.connection() as connection:
            rows = connection.execute(select(models).where(models.c.version == name)).mappings().all()
            if not rows and len(name) >= 8:
                rows = connection.execute(select(models).where(models.c.digest.startswith(name))).mappings().all()
        if len(rows) != 1:
            known = ", ".join(self.listing()["version"]) or "none yet"
            problem = "No registered model is" if not rows else f"{len(rows)} registered models are"
            raise RegistryError(f"{problem} called '{name}' (version or digest). Registered: {known}. Give the "
                                "checkpoint's folder to register it, or `recovery models list`.")
        return _registered(rows[0])

    def promote(self, folder: str | Path, in_use: str | Path, by: str, reason: str) -> Registered:
        """Make the checkpoint in `folder` the model in use. `in_use` is the folder faces use while no model is
        active (the committed default, or $RECOVERY_CHECKPOINT): registered too, so that it can be rolled back to."""
        _named(by, reason)
        header = verified(folder)
        now = datetime.now(UTC)
        with self.log.transaction() as connection:
            current = connection.execute(select(models).where(models.c.status == ACTIVE)).mappings().first()
            if current is None:
                previous = verified(in_use)
                _register(connection, previous, in_use, RETIRED, now)
                previous_digest = previous.digest
            else:
                previous_digest = current["digest"]
            if previous_digest == header.digest:
                raise RegistryError(f"{header.metadata.get('model_version') or header.version} "
                                    f"({header.digest[:12]}) is already the model in use; nothing changed.")
            connection.execute(update(models).where(models.c.status == ACTIVE).values(status=RETIRED))
            _register(connection, header, folder, ACTIVE, now)
            connection.execute(insert(model_changes).values(
                changed_at=now, action="promote", digest=header.digest, previous_digest=previous_digest,
                changed_by=by.strip(), reason=reason.strip()))
        return _changed(self.active())

    def rollback(self, by: str, reason: str) -> Registered:
        """Undo the latest promotion not yet undone: its model leaves use and the one it replaced is back. Rolling
        back twice after two promotions goes back two models; there is no rolling back past the first."""
        _named(by, reason)
        now = datetime.now(UTC)
        with self.log.transaction() as connection:
            history = connection.execute(select(model_changes).order_by(model_changes.c.id.desc())).mappings().all()
            undone, promotion = 0, None
            for change in (c for c in history if c["action"] in IN_USE_CHANGES):
                if change["action"] == "rollback":
                    undone += 1
                elif undone:
                    undone -= 1
                else:
                    promotion = change
                    break
            if promotion is None:
                raise RegistryError("Every promotion in the registry's record has been rolled back: nothing to roll "
                                    "back to. Promote the model you want by its folder or version.")
            back = connection.execute(select(models).where(models.c.digest == promotion["previous_digest"]))\
                .mappings().one()
            verified(back["location"], back["digest"])
            current = connection.execute(select(models.c.digest).where(models.c.status == ACTIVE)).scalar()
            connection.execute(update(models).where(models.c.status == ACTIVE).values(status=RETIRED))
            connection.execute(update(models).where(models.c.digest == back["digest"]).values(status=ACTIVE))
            connection.execute(insert(model_changes).values(
                changed_at=now, action="rollback", digest=back["digest"], previous_digest=current,
                changed_by=by.strip(), reason=reason.strip()))
        return _changed(self.active())

    def shadowing(self) -> Registered | None:
        """The model scoring silently beside the one in use, or None."""
        with self.log.connection() as connection:
            row = connection.execute(select(models).where(models.c.status == SHADOW)).mappings().first()
        return None if row is None else _registered(row)

    def shadow(self, folder: str | Path, by: str, reason: str) -> Registered:
        """Score every patient with the checkpoint in `folder` too, beside the model in use, logged and never shown
        (one shadow at a time: a new one replaces the old)."""
        _named(by, reason)
        header = verified(folder)
        now = datetime.now(UTC)
        with self.log.transaction() as connection:
            if connection.execute(select(models.c.status).where(models.c.digest == header.digest)).scalar() == ACTIVE:
                raise RegistryError(f"{header.version} ({header.digest[:12]}) is the model in use: it cannot also "
                                    "shadow itself.")
            previous = connection.execute(select(models.c.digest).where(models.c.status == SHADOW)).scalar()
            connection.execute(update(models).where(models.c.status == SHADOW).values(status=REGISTERED))
            _register(connection, header, folder, SHADOW, now)
            connection.execute(insert(model_changes).values(
                changed_at=now, action="shadow", digest=header.digest, previous_digest=previous,
                changed_by=by.strip(), reason=reason.strip()))
        return _changed(self.shadowing())

    def stop_shadow(self, by: str, reason: str) -> Registered:
        """No model scores in the shadow any more; the one that did stays registered."""
        _named(by, reason)
        with self.log.transaction() as connection:
            current = connection.execute(select(models).where(models.c.status == SHADOW)).mappings().first()
            if current is None:
                raise RegistryError("No model is scoring in the shadow: nothing to stop.")
            connection.execute(update(models).where(models.c.digest == current["digest"]).values(status=REGISTERED))
            connection.execute(insert(model_changes).values(
                changed_at=datetime.now(UTC), action="unshadow", digest=current["digest"], previous_digest=None,
                changed_by=by.strip(), reason=reason.strip()))
        return _registered(current)

    def listing(self) -> pd.DataFrame:
        """Every registered model, the one in use first: version, digest, status, location, and the latest change
        that put it in or out of use (when, by whom, why)."""
        frame = self.log.read_frame(select(models))
        changes = self.changes()
        last = {}
        for change in changes.itertuples():  # oldest first: the latest change touching each model wins
            for digest in (change.digest, change.previous_digest):
                last[digest] = change
        for column in ("changed_at", "changed_by", "action", "reason"):
            frame[column] = [getattr(last[d], column) if d in last else None for d in frame["digest"]]
        order = frame["status"].map({ACTIVE: 0, SHADOW: 1, REGISTERED: 2, RETIRED: 3})
        return frame.assign(_order=order).sort_values(["_order", "registered_at"]).drop(columns="_order")\
            .reset_index(drop=True)

    def changes(self) -> pd.DataFrame:
        """Every change, oldest first."""
        return self.log.read_frame(select(model_changes).order_by(model_changes.c.id))

    def history(self) -> pd.DataFrame:
        """Every change as people read it, newest first: when, what, the version in use after it and before it, by
        whom, why."""
        changes = self.changes()
        versions = dict(zip(*self.log.read_frame(select(models.c.digest, models.c.version)).to_dict("list").values(),
                            strict=True))
        return pd.DataFrame({
            "when": changes["changed_at"], "change": changes["action"],
            "in use after": changes["digest"].map(versions), "in use before": changes["previous_digest"].map(versions),
            "by": changes["changed_by"], "why": changes["reason"]}).iloc[::-1].reset_index(drop=True)


def verified(folder: str | Path, digest: str | None = None) -> CheckpointHeader:
    """The checkpoint's verified header; refused when `digest` is given and the checkpoint no longer has it."""
    header = read_header(folder)
    if digest is not None and header.digest != digest:
        raise CheckpointError(f"{folder} does not match its registration: registered as {digest[:12]}, the checkpoint "
                              f"there is now {header.digest[:12]}. Restore the registered checkpoint, or promote "
                              "this one by name (--by, --reason) if it is meant to be used.")
    return header


def _register(connection: Connection, header: CheckpointHeader, folder: str | Path, status: str, now: datetime) -> None:
    location = str(Path(folder).resolve())
    known = connection.execute(select(models.c.digest).where(models.c.digest == header.digest)).first()
    if known is None:
        connection.execute(insert(models).values(digest=header.digest, version=header.version, location=location,
                                                 status=status, registered_at=now))
    else:
        connection.execute(update(models).where(models.c.digest == header.digest).values(status=status,
                                                                                        location=location))


def _named(by: str, reason: str) -> None:
    if not by or not by.strip():
        raise RegistryError("Say who makes this change (--by NAME): every change of the model in use is signed.")
    if not reason or not reason.strip():
        raise RegistryError("Say why (--reason TEXT): every change of the model in use is recorded with its reason.")


def _registered(row: RowMapping) -> Registered:
    return Registered(str(row["digest"]), str(row["version"]), str(row["location"]), str(row["status"]))


def checkpoint_in_use(folder: str | Path | None = None) -> Path:
    """The checkpoint a face uses: `folder`, else $RECOVERY_CHECKPOINT, else the registry's model in use (verified
    against its registered digest), else the committed model. The embedded log is only read when it exists: a
    fresh clone has no registry, and needs none; nor does a log not yet migrated to it. A log that cannot be reached
    is refused: which model is in use is then not known."""
    if folder or environment().checkpoint:
        return checkpoint_folder(folder)
    registry = _registry()
    if registry is None:
        return DEFAULT_CHECKPOINT
    active = registry.active()
    if active is None:
        return DEFAULT_CHECKPOINT
    verified(active.location, active.digest)
    return Path(active.location)


def shadow_in_use(folder: str | Path | None = None) -> Path | None:
    """The checkpoint scoring in the shadow of the registry's model in use (verified against its registration), or
    None: when a checkpoint is named (`folder`, $RECOVERY_CHECKPOINT) the registry is not in play, nor its shadow."""
    if folder or environment().checkpoint:
        return None
    registry = _registry()
    if registry is None:
        return None
    shadow = registry.shadowing()
    if shadow is None:
        return None
    verified(shadow.location, shadow.digest)
    return Path(shadow.location)


def _registry() -> ModelRegistry | None:
    """The log's registry, or None where there is none: no embedded log yet, or a log not migrated to it."""
    location = locate()
    if location.embedded and not DEFAULT_DATABASE.exists():
        return None
    current, _ = revisions(location)
    if current is None or current < REGISTRY_REVISION:
        return None
    return ModelRegistry(PredictionLog.open())


def _changed(registered: Registered | None) -> Registered:
    """The model a change has just put in place (read back in the same breath: a concurrent change is a fault)."""
    if registered is None:
        raise RegistryError("The registry changed while this change was made; list it (recovery models list) and "
                            "try again.")
    return registered
