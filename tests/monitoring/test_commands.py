"""`recovery monitor`, `recovery export` and `recovery simulate-deployment` from the command line."""

import json

import pandas as pd
import pytest
import yaml

from recovery_model.access import verify_audit_log
from recovery_model.cli import main


@pytest.fixture
def simulated(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'sim.sqlite'}"
    assert main(["simulate-deployment", "--months", "3", "--drift-from-month", "2", "--patients-per-week", "60",
                 "--database", url]) == 0
    assert "weeks simulated" in capsys.readouterr().out
    monkeypatch.setenv("RECOVERY_DATABASE_URL", url)
    return url


def audit_events(path) -> list[dict]:
    verify_audit_log(path)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_monitor_writes_json_and_markdown_and_audits_the_read(simulated, tmp_path, capsys,
                                                              audit_log_outside_the_repo):
    assert main(["monitor", "--period", "month", "--window-days", "15", "--output", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [p["start"] for p in report["periods"]] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert sum(p["scored"] for p in report["periods"]) == 60 * 12
    assert main(["monitor", "--output", str(tmp_path / "r.md")]) == 0
    text = (tmp_path / "r.md").read_text()
    assert text.startswith("# Monitoring report: per week") and "| Period | Scored |" in text
    reads = [e for e in audit_events(audit_log_outside_the_repo) if e["event"] == "log_read"]
    assert reads[-1]["what"] == "monitor" and reads[-1]["rows"] == 720


def test_a_simulation_refuses_a_database_that_holds_predictions(simulated, capsys):
    assert main(["simulate-deployment", "--months", "1", "--database", simulated]) == 2
    assert "already holds 720 predictions" in capsys.readouterr().err


def test_the_seismometer_export_has_its_documented_layout(simulated, tmp_path, schema):
    folder = tmp_path / "sm"
    assert main(["export", "--format", "seismometer", "--output", str(folder)]) == 0
    config = yaml.safe_load((folder / "config.yml").read_text())["other_info"]
    usage = yaml.safe_load((folder / "usage_config.yml").read_text())["data_usage"]
    assert {"usage_config", "info_dir", "data_dir", "event_definition", "prediction_definition"} <= set(config)
    assert usage["entity_id"] == "patient_id" and usage["primary_target"] == usage["events"][0]["display_name"]
    assert usage["censor_min_count"] >= 10
    predictions = pd.read_parquet(folder / "data" / config["prediction_path"])
    events = pd.read_parquet(folder / "data" / config["event_path"])
    assert len(predictions) == len(events) == 720
    assert str(predictions[usage["predict_time"]].dtype) == "datetime64[ns]"
    assert str(events["EventTime"].dtype) == "datetime64[ns]" and events["Value"].dtype == "int64"
    assert set(events["Value"]) <= {0, 1} and set(events["Type"]) == {usage["events"][0]["source"]}
    assert {c["source"] for c in usage["cohorts"]} <= set(predictions.columns)
    assert predictions[usage["primary_output"]].between(0, 1).all()
    metadata = json.loads((folder / "data" / "metadata.json").read_text())
    assert len(metadata["thresholds"]) == 2 and metadata["modelname"]


def test_the_seismometer_export_opens_from_any_current_directory(simulated, tmp_path, monkeypatch):
    from pathlib import Path

    def seismometer_paths(config_path: str) -> dict:
        """Every file and folder config.yml names, resolved as seismometer 0.5's ConfigProvider does."""
        config_dir = Path(config_path) if Path(config_path).is_dir() else Path(config_path).parent
        info = yaml.safe_load((config_dir / "config.yml").read_text())["other_info"]
        data_dir = Path(info["data_dir"])  # taken as written: relative to the current directory
        return {**{key: config_dir / info[key] for key in ("usage_config", "event_definition",
                                                            "prediction_definition")},
                "data_dir": data_dir, "info_dir": Path(info["info_dir"]).resolve(),
                **{key: data_dir / info[key] for key in ("prediction_path", "event_path", "metadata_path")}}

    monkeypatch.chdir(tmp_path)
    assert main(["export", "--format", "seismometer", "--output", "sm"]) == 0  # relative, as the docs write it
    folder = (tmp_path / "sm").resolve()
    info = yaml.safe_load((folder / "config.yml").read_text())["other_info"]
    assert Path(info["data_dir"]) == folder / "data" and Path(info["info_dir"]) == folder / "outputs"
    assert not Path(info["usage_config"]).is_absolute()  # seismometer reads these beside config.yml
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    for cwd, config_path in ((tmp_path, "sm"), (elsewhere, "../../sm/"), (elsewhere, str(folder / "config.yml"))):
        monkeypatch.chdir(cwd)
        paths = seismometer_paths(config_path)
        assert {key for key, path in paths.items() if not path.exists()} == set(), (cwd, config_path)
        assert paths["data_dir"].is_dir() and paths["info_dir"].is_dir()
        assert paths["prediction_path"].resolve() == folder / "data" / "predictions.parquet"
