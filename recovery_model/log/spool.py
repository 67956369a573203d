"""Predictions kept on this machine's disk while the log's database cannot be reached, and written to it once and
in the order they were made when it can again.

A service worker or a dashboard that cannot log goes on answering: what it could not write goes into the spool,
one file per write (named by the time, the process and a counter; written whole and then renamed into place, so a
crash never leaves half a file). Every later write drains the spool first, so the log keeps the order in which
risks were shown. A file is claimed by renaming it before it is written, so two processes never write the same
file, and the ids the database already holds are skipped, so a file written but not yet removed (a crash between
the two) is not written twice. The spool of each database has its own folder: nothing kept for one database is
ever written into another.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from recovery_model.errors import LogError, LogUnreachable
from recovery_model.log.store import PredictionLog
from recovery_model.paths import LOCAL_DATA_DIR
from recovery_model.settings import environment

logger = logging.getLogger("recovery.log")
PENDING = ".json"
CLAIMED = ".claimed"
REFUSED = "refused"  # the folder for kept files the database refused outright (a row it will never take)
LOOK_EVERY_S = 5.0  # how often a writer looks for files another process kept


class Logged(StrEnum):
    """What became of a write: in the database, or kept on this machine until it is back."""

    WRITTEN = "written"
    KEPT = "kept"


def spool_folder(log: PredictionLog) -> Path:
    """$RECOVERY_SPOOL_DIR (else data/local/spool/), in a folder of the database's own (by a digest of its URL)."""
    base = environment().spool_dir or LOCAL_DATA_DIR / "spool"
    return Path(base) / hashlib.sha256(log.location.url.encode()).hexdigest()[:16]


class Spool:
    """The files of one database's spool, oldest first."""

    _counter = itertools.count()

    def __init__(self, folder: Path) -> None:
        self.folder = folder  # made on the first write kept: a service on a read-only disk starts all the same
        self._release_abandoned()

    def keep(self, records: dict[str, list[Any]]) -> Path:
        """Keep one write; `LogError` when this machine's disk cannot take it either (then it is not logged)."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._counter):06d}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f".{name}.partial"
            with partial.open("w", encoding="utf-8") as handle:
                json.dump(records, handle, default=_encode)
                handle.flush()
                os.fsync(handle.fileno())
            return partial.rename(self.folder / f"{name}{PENDING}")
        except OSError as exc:
            raise LogError(f"The prediction log's database cannot be reached, and {self.folder} cannot keep what "
                           f"was not written ({exc}): it is not logged. Make the folder writable, or set "
                           "RECOVERY_SPOOL_DIR to one that is.") from None

    def pending(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{PENDING}")) if self.folder.is_dir() else []

    def drain(self, log: PredictionLog) -> int:
        """Write every pending file, oldest first; the rows written. A database still away raises `LogUnreachable`
        and leaves the rest in place; a file the database refuses is set aside in `refused/`, said in the
        service's log, so that it cannot hold back the files after it."""
        written = 0
        for path in self.pending():
            claimed = path.with_name(f"{path.stem}.{os.getpid()}{CLAIMED}")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another process claimed it
            try:
                written += self._write(log, claimed)
            except LogUnreachable:
                claimed.rename(path)
                raise
            except LogError as exc:
                (self.folder / REFUSED).mkdir(exist_ok=True)
                claimed.rename(self.folder / REFUSED / path.name)
                logger.error("kept predictions %s refused by the database and set aside: %s", path.name, exc)
                continue
            claimed.unlink()
        return written

    def _write(self, log: PredictionLog, path: Path) -> int:
        try:
            records = json.loads(path.read_text(encoding="utf-8"), object_hook=_decode)
        except (OSError, ValueError) as exc:  # damaged on disk: set aside and said, never tried again
            raise LogError(f"{path.name} cannot be read back ({exc})") from None
        if not isinstance(records, dict) or not isinstance(records.get("id"), list):
            raise LogError(f"{path.name} holds no predictions")
        known = log.known_ids(records["id"])
        if known:
            keep = [i for i, pid in enumerate(records["id"]) if pid not in known]
            records = {name: [values[i] for i in keep] for name, values in records.items()}
        return log.write(records)

    def _release_abandoned(self) -> None:
        """Files claimed by a process that has since died are pending again."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob(f"*{CLAIMED}"):
            stem, pid = path.name[:-len(CLAIMED)].rsplit(".", 1)
            if pid.isdigit() and not _alive(int(pid)):
                path.rename(path.with_name(stem + PENDING))


class DurableLog:
    """Writes to the log that survive its database being away: kept in the spool, and written, in order, by the next
    write that finds the database back (`Logged.KEPT`). Only a spool that cannot be written either raises."""

    def __init__(self, log: PredictionLog, spool: Spool | None = None) -> None:
        self.log = log
        self.spool = spool or Spool(spool_folder(log))
        self._lock = threading.Lock()
        self._looked_at = 0.0
        self._pending = True  # until looked: another run may have left files

    def write(self, records: dict[str, list[Any]]) -> Logged:
        with self._lock:
            try:
                self._drain()
                self.log.write(records)
                return Logged.WRITTEN
            except LogUnreachable as exc:
                self.spool.keep(records)  # a disk that cannot keep it either raises LogError: not logged
                self._pending = True
                logger.error("%s; %d predictions kept in %s, to be written when it is back", exc,
                             len(records["id"]), self.spool.folder)
                return Logged.KEPT

    def kept(self) -> int:
        """How many writes wait in the spool."""
        return len(self.spool.pending())

    def _drain(self) -> None:
        if not self._pending and time.monotonic() - self._looked_at < LOOK_EVERY_S:
            return
        self._looked_at = time.monotonic()
        written = self.spool.drain(self.log)
        if written:
            logger.warning("the prediction log is back: %d kept predictions written", written)
        self._pending = False


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$time": value.isoformat()}
    raise TypeError(f"{type(value).__name__} cannot be kept in the spool")


def _decode(value: dict[str, Any]) -> Any:
    return datetime.fromisoformat(value["$time"]) if set(value) == {"$time"} else value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
