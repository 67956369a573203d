import json
import shutil

import numpy as np
import pytest

from recovery_model.errors import CheckpointError
from recovery_model.schema import Schema
from recovery_model.scoring.checkpoint import METADATA, WEIGHTS
from recovery_model.scoring.predictor import Predictor


@pytest.fixture
def checkpoint(small_predictor, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(small_predictor.folder, folder)
    return folder


def test_round_trip_gives_identical_risks(small_fit, small_predictor, cohort_unseen):
    predictor = small_fit
    np.testing.assert_array_equal(small_predictor.predict_risk(cohort_unseen)["risk"],
                                  predictor.predict_risk(cohort_unseen)["risk"])
    np.testing.assert_array_equal(small_predictor.model.oof_risk_, predictor.model.oof_risk_)
    assert small_predictor.model.max_missing_ == predictor.model.max_missing_
    assert small_predictor.thresholds == predictor.thresholds
    assert small_predictor.schema == predictor.schema


def test_metadata_records_provenance(small_predictor):
    meta = small_predictor.metadata
    for key in ("package_version", "trained_at", "training_data", "schema", "thresholds", "model",
                "weights_sha256", "metadata_sha256", "format_version"):
        assert key in meta
    assert len(meta["training_data"]["fingerprint"]) == 64
    assert meta["model"]["history"] and "slope" in meta["model"]["calibration"]


def test_weights_file_holds_no_pickle(checkpoint):
    data = (checkpoint / WEIGHTS).read_bytes()
    header_length = int.from_bytes(data[:8], "little")
    json.loads(data[8:8 + header_length])  # safetensors: a JSON header, then raw numbers
    assert b"\x80\x04\x95" not in data[:16] and not data.startswith(b"PK")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="recovery train"):
        Predictor.load(tmp_path / "nowhere")


def test_truncated_weights(checkpoint):
    data = (checkpoint / WEIGHTS).read_bytes()
    (checkpoint / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        Predictor.load(checkpoint)


def test_tampered_weights(checkpoint):
    data = bytearray((checkpoint / WEIGHTS).read_bytes())
    data[-5] ^= 0xFF
    (checkpoint / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        Predictor.load(checkpoint)


def test_tampered_metadata(checkpoint):
    meta = json.loads((checkpoint / METADATA).read_text())
    meta["thresholds"]["high"] = 0.99
    (checkpoint / METADATA).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="edited"):
        Predictor.load(checkpoint)


def test_damaged_metadata(checkpoint):
    (checkpoint / METADATA).write_text("{ not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        Predictor.load(checkpoint)


def test_future_format_version(checkpoint):
    meta = json.loads((checkpoint / METADATA).read_text())
    meta["format_version"] = 99
    (checkpoint / METADATA).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="Upgrade"):
        Predictor.load(checkpoint)


def test_single_network_checkpoint_of_format_1_says_retrain(checkpoint):
    from recovery_model.scoring.checkpoint import _metadata_digest

    meta = json.loads((checkpoint / METADATA).read_text())
    meta["format_version"] = 1
    meta["metadata_sha256"] = _metadata_digest(meta)
    (checkpoint / METADATA).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"single-network model.*recovery train"):
        Predictor.load(checkpoint)


def test_a_format_3_checkpoint_of_one_mlp_over_all_inputs_is_still_read(cohort_small, cohort_unseen, schema,
                                                                        tiny_config, tmp_path):
    """Written before the deep part could be additive (no `additive` in its configuration): read as the network it
    is, the same risks and exact explanations, not refused and not rebuilt as an additive network."""
    from dataclasses import replace

    from recovery_model.scoring.checkpoint import _metadata_digest

    deep = Predictor.fit(cohort_small.head(1500), schema, replace(tiny_config, additive=False, max_epochs=3), seed=0)
    deep.save(tmp_path)
    meta = json.loads((tmp_path / METADATA).read_text())
    del meta["model"]["config"]["additive"]
    meta["format_version"] = 3
    meta["metadata_sha256"] = _metadata_digest(meta)
    (tmp_path / METADATA).write_text(json.dumps(meta))
    loaded = Predictor.load(tmp_path)
    assert not loaded.model.config_.additive
    np.testing.assert_array_equal(loaded.predict_risk(cohort_unseen)["risk"], deep.predict_risk(cohort_unseen)["risk"])
    explanation = loaded.assess(cohort_unseen.head(20)).explanation
    total = explanation.base_value + explanation.attributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, explanation.log_odds, atol=1e-5)


def test_wrong_schema(checkpoint, schema):
    data = schema.to_dict()
    data["name"], data["features"] = "other", data["features"][::-1]
    with pytest.raises(CheckpointError, match="trained for schema"):
        Predictor.load(checkpoint, expected_schema=Schema.from_dict(data))


def test_describing_a_model_does_not_import_torch(small_predictor):
    """The Home page reads the summary and report only: start-up must not pay for torch, sklearn or pandas."""
    import subprocess
    import sys

    code = ("import sys; from recovery_model.evaluation.summary import ModelSummary; "
            f"s = ModelSummary.read({str(small_predictor.folder)!r}); s.report; "
            "import recovery_model, recovery_model.scoring.narrative, recovery_model.access; "
            "print(*(m in sys.modules for m in ('torch', 'sklearn', 'pandas')), s.schema.name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False", small_predictor.schema.name]


def test_a_remapped_model_reads_otherwise_and_scores_the_same(checkpoint, tmp_path, capsys, cohort_unseen):
    """`recovery remap`: new FHIR codes and shelf lives without retraining; the weights, risks and evaluation stay."""
    from dataclasses import replace

    from recovery_model.cli import main
    from recovery_model.scoring.checkpoint import read_header

    before = Predictor.load(checkpoint)
    schema = replace(before.schema, features=tuple(replace(f, max_age_hours=12.0) if f.name == "heart_rate" else f
                                                   for f in before.schema.features))
    (tmp_path / "schema.toml").write_text(schema.to_toml(), encoding="utf-8")
    assert main(["remap", "--checkpoint", str(checkpoint), "--schema", str(tmp_path / "schema.toml"), "--output",
                 str(tmp_path / "remapped")]) == 0
    after = Predictor.load(tmp_path / "remapped")
    assert after.schema.feature("heart_rate").max_age_hours == 12.0
    assert after.digest != before.digest
    assert [(r["from_digest"], r["features"]) for r in after.metadata["remapped"]] == [(before.digest, ["heart_rate"])]
    assert read_header(tmp_path / "remapped").metadata["weights_sha256"] == before.metadata["weights_sha256"]
    rows = cohort_unseen.head(50)
    np.testing.assert_array_equal(after.predict_risk(rows)["risk"], before.predict_risk(rows)["risk"])
    assert f"now reads its inputs as {tmp_path / 'schema.toml'}" in capsys.readouterr().out


@pytest.mark.parametrize(("field", "value", "says"), [
    ("valid_max", 300.0, "feature 'heart_rate': valid_max differs (250 → 300.0)"),
    ("label", "Pulse", "feature 'heart_rate': label differs"),
    ("fhir.units", {"/min": 2.0}, "feature 'heart_rate': fhir.units differs"),  # the number fed to the model
])
def test_a_remap_that_changes_what_the_model_learnt_from_is_refused(checkpoint, field, value, says):
    from dataclasses import replace

    from recovery_model.errors import SchemaError

    predictor = Predictor.load(checkpoint)

    def changed(feature):
        if field.startswith("fhir."):
            return replace(feature, fhir=replace(feature.fhir, units=value))
        return replace(feature, **{field: value})

    schema = replace(predictor.schema, features=tuple(changed(f) if f.name == "heart_rate" else f
                                                      for f in predictor.schema.features))
    with pytest.raises(SchemaError, match="retrain") as refused:
        predictor.remapped(schema)
    assert says in str(refused.value)
