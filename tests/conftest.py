from pathlib import Path

import pytest

from recovery_model.schema import Schema, load_schema

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


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

    return NetworkConfig(hidden=(16, 8), dropout=0.1, max_epochs=12, patience=3, batch_size=256, folds=3)


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
