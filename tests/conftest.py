import os
import uuid
from pathlib import Path

import pytest

from recovery_model.monitoring.simulation import Deployment
from recovery_model.schema import Schema, load_schema

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DRIFT = Deployment(shift=1.0)  # six months, outcomes drift from April by +1 on the log-odds


@pytest.fixture(scope="session")
def schema() -> Schema:
    return load_schema()


@pytest.fixture(scope="session")
def cohort_small():
    from recovery_model.cohort import generate_cohort

    return generate_cohort(3000, seed=11)


@pytest.fixture(scope="session")
def cohort_unseen():
    """Patients no test model was trained on."""
    from recovery_model.cohort import generate_cohort

    return generate_cohort(400, seed=12)


@pytest.fixture(scope="session")
def tiny_config():
    from recovery_model.model.config import NetworkConfig

    return NetworkConfig(hidden=(16, 8), max_epochs=12, patience=3, batch_size=256, folds=3)


@pytest.fixture(scope="session")
def small_fit(cohort_small, schema, tiny_config):
    """A cross-fitted predictor trained in about a second."""
    from recovery_model.scoring.predictor import Predictor

    return Predictor.fit(cohort_small, schema, tiny_config, seed=3)


@pytest.fixture(scope="session")
def small_predictor(small_fit, tmp_path_factory):
    from recovery_model.scoring.predictor import Predictor

    predictor = small_fit
    folder = tmp_path_factory.mktemp("checkpoint")
    predictor.save(folder)
    return Predictor.load(folder)


@pytest.fixture(scope="session")
def default_predictor():
    from recovery_model.scoring.predictor import Predictor

    return Predictor.load()


@pytest.fixture(scope="session", autouse=True)
def audit_log_outside_the_repo(tmp_path_factory):
    """Every test (and every app it starts) writes its audit trail to a temporary file."""
    import os

    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    previous = os.environ.get("RECOVERY_AUDIT_LOG")
    os.environ["RECOVERY_AUDIT_LOG"] = str(path)
    yield path
    if previous is None:
        del os.environ["RECOVERY_AUDIT_LOG"]
    else:
        os.environ["RECOVERY_AUDIT_LOG"] = previous


@pytest.fixture(scope="session", autouse=True)
def prediction_log_outside_the_repo(tmp_path_factory):
    """Every test (and every app or command it starts) logs predictions to a temporary SQLite file, migrated once;
    the tests of the log itself open databases of their own."""
    import os

    from recovery_model.log.database import upgrade
    from recovery_model.settings import DATABASE_ENV

    url = f"sqlite:///{tmp_path_factory.mktemp('log') / 'predictions.sqlite'}"
    upgrade(url)
    previous = os.environ.get(DATABASE_ENV)
    os.environ[DATABASE_ENV] = url
    yield url
    if previous is None:
        del os.environ[DATABASE_ENV]
    else:
        os.environ[DATABASE_ENV] = previous


@pytest.fixture(scope="module")
def plain_main():
    """AppTest, run earlier in the same pytest process, leaves Streamlit's app script as __main__, and
    multiprocessing's spawn runs __main__'s file in every process it starts: Dask's workers start from a plain one."""
    import sys
    import types

    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def dask_cluster(plain_main):
    """A real two-process Dask cluster on this machine, for a test module."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local


# ----- the prediction log's databases -------------------------------------------------------------------------
# Tests of the log run on a new SQLite file and on a new database in a real PostgreSQL server: $RECOVERY_TEST_POSTGRES
# (a URL of a database the tests may create databases from; default the local socket's `postgres`). Where none can
# be reached the PostgreSQL cases skip with a message, except in CI ($RECOVERY_REQUIRE_POSTGRES=1, set by .ci/run),
# where they fail.
ADMIN_URL = os.environ.get("RECOVERY_TEST_POSTGRES", "postgresql+psycopg:///postgres")


def _postgres_admin():
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return engine
    except OperationalError as exc:
        message = f"no PostgreSQL server at {ADMIN_URL} ({str(exc.orig).strip().splitlines()[0]})"
        if os.environ.get("RECOVERY_REQUIRE_POSTGRES"):
            pytest.fail(f"{message}; CI requires it (.ci/run starts it)")
        pytest.skip(f"{message}: the PostgreSQL cases are skipped on this machine")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The URL of an empty database (no tables yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.sqlite'}"
        return
    from sqlalchemy import make_url, text

    from recovery_model.log.database import database_engine

    admin = _postgres_admin()
    name = f"recovery_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    database_engine(url).dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def log(database_url):
    """A migrated, empty prediction log."""
    from recovery_model.log.database import upgrade
    from recovery_model.log.store import PredictionLog

    upgrade(database_url)
    return PredictionLog.open(database_url)


@pytest.fixture
def empty_log(tmp_path, monkeypatch):
    """A migrated, empty SQLite log that $RECOVERY_DATABASE_URL names, for a test's pages, commands or service."""
    from recovery_model.log.database import upgrade
    from recovery_model.log.store import PredictionLog

    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    upgrade(url)
    monkeypatch.setenv("RECOVERY_DATABASE_URL", url)
    return PredictionLog.open(url)


def simulated_log(folder, predictor, deployment, shadow=None):
    """A migrated SQLite log in `folder` holding `deployment` simulated with `predictor` (and a `shadow` beside)."""
    from recovery_model.log.database import upgrade
    from recovery_model.log.store import PredictionLog
    from recovery_model.monitoring.simulation import simulate_deployment

    url = f"sqlite:///{folder / 'log.sqlite'}"
    upgrade(url)
    log = PredictionLog.open(url)
    simulate_deployment(log, predictor, deployment, shadow)
    return log


@pytest.fixture(scope="module")
def drifted(tmp_path_factory, default_predictor):
    """Six simulated months whose outcomes drift from April by +1 on the log-odds (`DRIFT`)."""
    return simulated_log(tmp_path_factory.mktemp("drifted"), default_predictor, DRIFT)


@pytest.fixture(scope="module")
def after_the_alert(drifted, default_predictor):
    """`recovery update` on the drifted log from the month the monitor first alerts."""
    from recovery_model.updating.update import UpdateSettings, update

    return update(drifted, default_predictor, UpdateSettings(since=DRIFT.drift_start))


def recalibrated(predictor, folder, intercept: float):
    """`predictor` with `intercept` added to its log-odds, saved in `folder` as a model of its own (version
    'test+<intercept>'): a second model to promote or shadow."""
    predictor.recalibrated(intercept, 1.0, predictor.model.oof_risk_, predictor.model.oof_event_,
                           {"method": "intercept", "version": f"test+{intercept}"}).save(folder)
    return folder


@pytest.fixture(scope="module")
def candidates(tmp_path_factory, default_predictor):
    """Two such models: +0.5 and +1.0 on the log-odds."""
    root = tmp_path_factory.mktemp("candidates")
    return [recalibrated(default_predictor, root / name, shift) for name, shift in (("b", 0.5), ("c", 1.0))]
