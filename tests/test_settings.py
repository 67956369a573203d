from pathlib import Path

import pytest

from recovery_model.errors import ServiceConfigError
from recovery_model.settings import Settings, environment


def test_the_environment_is_read_in_one_place_and_blank_means_unset():
    settings = Settings.from_environment({"RECOVERY_DATABASE_URL": "sqlite:///x.sqlite", "RECOVERY_CHECKPOINT": "",
                                          "RECOVERY_AUDIT_LOG": "audit.jsonl", "RECOVERY_RETENTION_DAYS": "30",
                                          "UNRELATED": "1"})
    assert settings == Settings(database_url="sqlite:///x.sqlite", checkpoint=None, audit_log=Path("audit.jsonl"),
                                retention_days="30", service=None)


def test_a_change_to_the_environment_reaches_the_next_read(monkeypatch):
    monkeypatch.setenv("RECOVERY_CHECKPOINT", "/models/a")
    assert environment().checkpoint == Path("/models/a")
    monkeypatch.setenv("RECOVERY_CHECKPOINT", "/models/b")
    assert environment().checkpoint == Path("/models/b")


def test_a_service_worker_started_without_recovery_serve_says_how_to_start_it(monkeypatch):
    from recovery_model.service.settings import ServiceSettings

    monkeypatch.delenv("RECOVERY_SERVICE_SETTINGS", raising=False)
    with pytest.raises(ServiceConfigError, match="recovery serve"):
        ServiceSettings.from_environment()
