"""The model registry: promote and roll back with a name and a reason, every face resolving the model in use, and a
checkpoint that changed since its registration refused."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from recovery_model.cli import main
from recovery_model.errors import CheckpointError, RegistryError
from recovery_model.log.registry import ACTIVE, RETIRED, ModelRegistry, checkpoint_in_use
from recovery_model.paths import DEFAULT_CHECKPOINT
from recovery_model.scoring.checkpoint import read_header
from tests.conftest import recalibrated


def test_promote_then_rollback_walks_back_through_the_promotions(log, candidates):
    registry = ModelRegistry(log)
    assert registry.active() is None and not len(registry.listing())
    b, c = candidates
    assert registry.promote(b, DEFAULT_CHECKPOINT, "Dr Analyst", "O/E 2 since April").location == str(b.resolve())
    registry.promote(c, DEFAULT_CHECKPOINT, "Dr Analyst", "a larger shift")
    listing = registry.listing()
    assert listing["status"].tolist() == [ACTIVE, RETIRED, RETIRED] and listing["version"][0] == "test+1.0"
    assert registry.rollback("Dr Lead", "c overshoots").digest == read_header(b).digest
    assert registry.rollback("Dr Lead", "back to the committed model").digest == read_header(DEFAULT_CHECKPOINT).digest
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback("Dr Lead", "once more")
    changes = registry.changes()
    assert changes["action"].tolist() == ["promote", "promote", "rollback", "rollback"]
    assert changes["changed_by"].tolist() == ["Dr Analyst", "Dr Analyst", "Dr Lead", "Dr Lead"]


def test_a_change_without_a_name_or_a_reason_changes_nothing(log, candidates):
    registry = ModelRegistry(log)
    with pytest.raises(RegistryError, match="--by"):
        registry.promote(candidates[0], DEFAULT_CHECKPOINT, "  ", "why")
    with pytest.raises(RegistryError, match="--reason"):
        registry.promote(candidates[0], DEFAULT_CHECKPOINT, "Dr Analyst", "")
    assert registry.active() is None and not len(registry.changes())


def test_an_unknown_version_is_refused_with_the_registered_ones(log, candidates):
    registry = ModelRegistry(log)
    registry.promote(candidates[0], DEFAULT_CHECKPOINT, "Dr Analyst", "why")
    assert registry.find("test+0.5").digest == read_header(candidates[0]).digest
    with pytest.raises(RegistryError, match=r"No registered model is called 'v9'.*test\+0\.5"):
        registry.find("v9")


def test_the_model_in_use_follows_the_registry_unless_a_checkpoint_is_named(empty_log, candidates, monkeypatch):
    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    assert checkpoint_in_use() == DEFAULT_CHECKPOINT
    ModelRegistry(empty_log).promote(candidates[1], DEFAULT_CHECKPOINT, "Dr Analyst", "why")
    assert checkpoint_in_use() == candidates[1].resolve()
    assert checkpoint_in_use(candidates[0]) == candidates[0]
    monkeypatch.setenv("RECOVERY_CHECKPOINT", str(DEFAULT_CHECKPOINT))
    assert checkpoint_in_use() == DEFAULT_CHECKPOINT


def test_a_checkpoint_changed_since_its_registration_is_refused(empty_log, default_predictor, tmp_path,
                                                                 monkeypatch):
    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    folder = recalibrated(default_predictor, tmp_path / "model", 0.5)
    ModelRegistry(empty_log).promote(folder, DEFAULT_CHECKPOINT, "Dr Analyst", "why")
    recalibrated(default_predictor, folder, 0.7)  # another model written over the registered one
    with pytest.raises(CheckpointError, match="does not match its registration"):
        checkpoint_in_use()


def test_recovery_predict_scores_with_the_promoted_model_and_logs_its_version(empty_log, candidates, tmp_path,
                                                                               monkeypatch, capsys):
    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    ward = str(DEFAULT_CHECKPOINT.parent.parent / "data" / "sample_ward.csv")
    assert main(["models", "promote", str(candidates[1]), "--by", "Dr Analyst", "--reason", "O/E 2"]) == 0
    assert "In use now: test+1.0" in capsys.readouterr().out
    assert main(["predict", "--input", ward, "--output", str(tmp_path / "ranked.csv")]) == 0
    capsys.readouterr()
    from sqlalchemy import select

    from recovery_model.log.tables import predictions

    logged = empty_log.read_frame(select(predictions.c.model_version, predictions.c.model_digest))
    assert set(logged["model_version"]) == {"test+1.0"}
    assert set(logged["model_digest"]) == {read_header(candidates[1]).digest}
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("active") and "test+1.0" in listed[0] and "by Dr Analyst: O/E 2" in listed[0]
    assert main(["models", "rollback", "--by", "Dr Lead", "--reason", "wrong ward"]) == 0
    lines = Path(os.environ["RECOVERY_AUDIT_LOG"]).read_text(encoding="utf-8").splitlines()
    audit = [json.loads(line) for line in lines]
    assert [e["event"] for e in audit if e["event"].startswith("model_")][-2:] == ["model_promote", "model_rollback"]


def test_promote_refuses_what_it_cannot_find_and_changes_nothing(empty_log, capsys):
    assert main(["models", "promote", "v9", "--by", "Dr Analyst", "--reason", "why"]) == 2
    assert "No registered model is called 'v9'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["models", "promote", str(DEFAULT_CHECKPOINT), "--reason", "no name"])
    assert "--by" in capsys.readouterr().err
    assert ModelRegistry(empty_log).active() is None


def test_a_promoted_candidate_scores_the_recalibrated_risk(candidates, default_predictor):
    import pandas as pd

    from recovery_model.scoring.predictor import Predictor

    row = pd.DataFrame([default_predictor.schema.defaults()])
    before = default_predictor.predict_risk(row)["risk"].iloc[0]
    after = Predictor.load(candidates[1]).predict_risk(row)["risk"].iloc[0]
    assert np.log(after / (1 - after)) - np.log(before / (1 - before)) == pytest.approx(1.0)
