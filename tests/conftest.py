from pathlib import Path

import pytest

from recovery_model.schema import Schema, load_schema

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def schema() -> Schema:
    return load_schema()
