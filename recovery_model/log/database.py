"""Opening the log's database: where it is, that it is at the code's version, and migrating it (Alembic).

Without `RECOVERY_DATABASE_URL` the log is an embedded SQLite file (WAL, so readers never wait for a writer;
a busy timeout, so concurrent writers queue instead of failing), created and migrated on first use: nothing to
install. A database named by URL is production's: it is never migrated behind anyone's back (`recovery db
upgrade`), and one at another version than the code is refused with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from recovery_model.errors import LogError
from recovery_model.paths import DEFAULT_DATABASE
from recovery_model.settings import DATABASE_ENV, environment

HEAD = "0006"  # the newest migration (a test holds it to the scripts): checked without importing Alembic
MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Location:
    """Which database, shown without its password, and whether it is the embedded default."""

    url: str
    embedded: bool

    @property
    def shown(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)


def locate(url: str | None = None) -> Location:
    """`url`, else $RECOVERY_DATABASE_URL, else the embedded SQLite file in the data folder git ignores."""
    given = url or environment().database_url
    if given:
        return Location(given, embedded=False)
    return Location(f"sqlite:///{DEFAULT_DATABASE}", embedded=True)


def connect(location: Location) -> Engine:
    """An engine on `location`, checked to be reachable and at the code's version (the embedded file is created
    and migrated here)."""
    engine = database_engine(location.url)
    if location.embedded:
        DEFAULT_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    current = _current(engine, location)
    if location.embedded and current != HEAD:
        _upgrade(engine)
        current = _current(engine, location)
    if current != HEAD:
        raise LogError(_version_problem(location, current, HEAD))
    return engine


def upgrade(url: str) -> tuple[str | None, str]:
    """Migrate the database at `url` to the code's version; (the version before, the version now)."""
    return _upgrade(database_engine(url))


def _upgrade(engine: Engine) -> tuple[str | None, str]:
    from alembic import command

    before = _current(engine, None)
    with engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, _current(engine, None) or HEAD


def revisions(location: Location) -> tuple[str | None, str]:
    """(the database's migration version, None when it has none, and the code's)."""
    return _current(database_engine(location.url), location), HEAD


def _current(engine: Engine, location: Location | None) -> str | None:
    """The version Alembic recorded, read with one query (a CLI run need not import Alembic)."""
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except OperationalError as exc:
        where = location.shown if location else engine.url.render_as_string(hide_password=True)
        raise LogError(f"The prediction log's database {where} cannot be reached ({_reason(exc)}). Nothing was "
                       f"logged. Check {DATABASE_ENV} and that the server is running, or run with --no-log.") from None


@cache
def database_engine(url: str) -> Engine:
    """One engine per URL in a process (its connection pool is shared). Outside `log/`, only tests and benchmarks
    that check what was stored byte for byte use it; everything else goes through `PredictionLog`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LogError(f"{DATABASE_ENV} is not a database URL ('postgresql+psycopg://user:password@host/db' or "
                       f"'sqlite:///path/file.sqlite').") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    except (ImportError, SQLAlchemyError) as exc:
        raise LogError(f"{DATABASE_ENV}={parsed.render_as_string(hide_password=True)} cannot be used: {exc}. "
                       "PostgreSQL needs the postgres extra (pip install 'recovery-model[postgres]').") from None


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _version_problem(location: Location, current: str | None, head: str) -> str:
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
    if current is not None and current not in known:
        return (f"The prediction log {location.shown} is at version {current}, newer than this code knows "
                f"(its newest is {head}). Upgrade recovery-model before using this database.")
    state = "has no tables yet" if current is None else f"is at version {current}, older than the code's {head}"
    return f"The prediction log {location.shown} {state}. Run `recovery db upgrade` (with the same {DATABASE_ENV})."


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def script_head() -> str:
    """The newest migration among the scripts (what `HEAD` must name)."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


def _reason(exc: OperationalError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
