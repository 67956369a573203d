import numpy as np
import pandas as pd
import pytest

from recovery_model.cli import main
from recovery_model.cohort import generate_cohort
from recovery_model.evaluation.summary import ModelSummary
from recovery_model.scoring.predictor import Predictor
from tests.conftest import DATA


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    data = folder / "patients.csv"
    generate_cohort(2500, seed=5).to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--output", str(folder / "model"), "--no-evaluate"]) == 0
    return folder / "model"


def test_train_writes_a_loadable_checkpoint(trained):
    predictor = Predictor.load(trained)
    assert predictor.metadata["training_data"]["rows"] == 2500


def test_predict_ranks_the_sample_ward(trained, tmp_path, capsys):
    out = tmp_path / "ranked.csv"
    assert main(["predict", "--input", str(DATA / "sample_ward.csv"), "--output", str(out),
                 "--checkpoint", str(trained), "--top-k", "5", "--explain"]) == 0
    ranked = pd.read_csv(out)
    ward = pd.read_csv(DATA / "sample_ward.csv")
    assert len(ranked) == len(ward) and set(ranked["patient_id"]) == set(ward["patient_id"])
    assert ranked["risk"].is_monotonic_decreasing and ranked["in_top_k"].sum() == 5
    assert {"driver_1", "driver_2", "driver_3", "tier"} <= set(ranked.columns)
    assert "48 scored" in capsys.readouterr().out


def test_predict_prints_and_writes_the_drift_report(trained, tmp_path, capsys):
    """A ward shifted on purpose (SpO2 4 lower, heart rate 15 higher) is called out, in words and in JSON."""
    import json

    ward = pd.read_csv(DATA / "sample_ward.csv")
    ward = ward.assign(oxygen_level=ward["oxygen_level"] - 4, heart_rate=ward["heart_rate"] + 15)
    source, report = tmp_path / "shifted.csv", tmp_path / "drift.json"
    ward.to_csv(source, index=False)
    assert main(["predict", "--input", str(source), "--output", str(tmp_path / "ranked.csv"),
                 "--checkpoint", str(trained), "--drift-report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "Drift: " in out and "SpO2" in out and "lower than training" in out
    stored = json.loads(report.read_text())
    assert stored["drifted"] and stored["patients"] == len(ward)
    assert {f["feature"] for f in stored["features"] if f["shifted"]} >= {"oxygen_level"}
    ranked = pd.read_csv(tmp_path / "ranked.csv")
    assert {"risk_low", "risk_high", "typicality", "atypical"} <= set(ranked.columns)


def test_predict_reports_and_writes_rejected_rows(trained, tmp_path, capsys):
    ward = pd.read_csv(DATA / "sample_ward.csv", dtype=str)
    ward.loc[3, "oxygen_level"] = "250"
    ward.loc[4, "patient_id"] = "=HYPERLINK(\"http://x\")"
    source = tmp_path / "ward.csv"
    ward.to_csv(source, index=False)
    out = tmp_path / "ranked.csv"
    assert main(["predict", "--input", str(source), "--output", str(out), "--checkpoint", str(trained)]) == 0
    err = capsys.readouterr().err
    assert "row 4: oxygen_level = '250'" in err
    rejected = pd.read_csv(tmp_path / "ranked_rejected.csv")
    assert list(rejected["row"]) == [4]
    assert len(pd.read_csv(out)) == len(ward) - 1
    assert "'=HYPERLINK" in out.read_text()


def test_missing_columns_fail_with_a_message_not_a_traceback(trained, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.read_csv(DATA / "sample_ward.csv").rename(columns={"oxygen_level": "oxygen level"}).to_csv(bad, index=False)
    assert main(["predict", "--input", str(bad), "--output", str(tmp_path / "o.csv"),
                 "--checkpoint", str(trained)]) == 2
    err = capsys.readouterr().err
    assert "oxygen_level" in err and "'oxygen level'" in err and "Traceback" not in err


def test_missing_checkpoint_says_how_to_fix(tmp_path, capsys):
    assert main(["predict", "--input", str(DATA / "sample_ward.csv"), "--output", str(tmp_path / "o.csv"),
                 "--checkpoint", str(tmp_path / "none")]) == 2
    assert "recovery train" in capsys.readouterr().err


def test_evaluate_refuses_other_data(trained, capsys):
    assert main(["evaluate", "--checkpoint", str(trained), "--data", str(DATA / "patients.csv")]) == 2
    assert "not the data" in capsys.readouterr().err


@pytest.mark.slow
def test_bring_your_own_data_with_other_columns(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    foreign = pd.DataFrame({"lactate_mmol": rng.gamma(2, 1, n).round(2), "sofa": rng.integers(0, 15, n),
                            "creatinine": rng.normal(1.0, 0.3, n).round(2), "ventilated": rng.integers(0, 2, n)})
    logit = -4 + 0.5 * foreign["lactate_mmol"] + 0.15 * foreign["sofa"] + 0.8 * foreign["ventilated"]
    foreign["died_30d"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    foreign.loc[rng.choice(n, 150, replace=False), "creatinine"] = np.nan
    data = tmp_path / "icu.csv"
    foreign.to_csv(data, index=False)
    out = tmp_path / "icu_model"
    assert main(["train", "--data", str(data), "--target", "died_30d", "--event", "1", "--output", str(out),
                 "--bootstrap", "20"]) == 0
    predictor = Predictor.load(out)
    assert predictor.schema.feature_names == ["lactate_mmol", "sofa", "creatinine", "ventilated"]
    assert (out / "schema.toml").is_file() and (out / "model_card.md").is_file()
    report = ModelSummary.read(predictor.folder).report
    assert report.internal.metrics.value.auroc > 0.7
    assert not any("Oracle" in b.name for b in report.baselines) and report.fresh is None
    assert not report.subgroups  # an inferred schema defines none
    ward = foreign.drop(columns="died_30d").head(20).assign(patient_id=[f"icu{i}" for i in range(20)])
    result = predictor.rank(ward, top_k=3)
    assert result.ranked["risk"].is_monotonic_decreasing
    assert len(result.ranked) + len(result.rejected) == 20
    # training had patients with creatinine missing: such patients are scored, creatinine imputed and named
    missing_creatinine = ward["creatinine"].isna()
    assert missing_creatinine.any() and result.rejected.empty
    assert (result.ranked.loc[missing_creatinine[missing_creatinine].index, "imputed_values"] == "Creatinine").all()
    # more missing than any training patient had: refused, with the reason
    refused = predictor.predict_risk(ward.head(1).assign(creatinine=np.nan, sofa=np.nan))
    assert refused.loc[0, "status"] == "rejected" and "at most 1 missing" in refused.loc[0, "problems"]
    assert main(["train", "--data", str(data), "--schema", str(out / "schema.toml"), "--output",
                 str(tmp_path / "again"), "--no-evaluate"]) == 0


def test_hash_password_prints_a_secrets_entry(monkeypatch, capsys):
    import io
    import tomllib

    from recovery_model.access import SignIn, Users

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pw\n"))
    assert main(["hash-password", "--user", "dora", "--role", "analyst"]) == 0
    entry = tomllib.loads(capsys.readouterr().out)["recovery_users"]
    assert "s3cret" not in str(entry)
    user = SignIn(Users.from_secrets(entry)).attempt("dora", "s3cret-pw")
    assert user.role == "analyst"


def test_suggest_prints_the_range_and_options_for_a_few_patients(trained, tmp_path, capsys):
    ward = pd.read_csv(DATA / "sample_ward.csv").head(3).astype({"age": object})
    ward.loc[2, "age"] = "old"
    source = tmp_path / "three.csv"
    ward.to_csv(source, index=False)
    assert main(["suggest", "--input", str(source), "--checkpoint", str(trained)]) == 0
    out = capsys.readouterr().out
    first = ward["patient_id"].iloc[0]
    assert f"{first}: risk of not recovering" in out and "(range " in out
    assert f"{ward['patient_id'].iloc[2]}: not scored: age = 'old'" in out
    assert "not causal advice" in out
    assert main(["suggest", "--input", str(DATA / "sample_ward.csv"), "--checkpoint", str(trained),
                 "--max-patients", "10"]) == 2
    assert "recovery predict" in capsys.readouterr().err


def test_predict_on_a_csv_imports_only_what_it_needs(tmp_path):
    """Lean start-up: scoring a CSV loads torch and pandas, not Dask, the FHIR models, the evaluation stack,
    SciPy's statistics (a ward under 10 patients is not tested for drift) or any face's libraries."""
    import subprocess
    import sys

    ward = tmp_path / "five.csv"
    pd.read_csv(DATA / "sample_ward.csv").head(5).to_csv(ward, index=False)
    code = ("import sys, json; from recovery_model.cli import main; "
            f"code = main(['predict', '--input', {str(ward)!r}, '--output', {str(tmp_path / 'out.csv')!r}]); "
            "print(json.dumps([code, sorted(sys.modules)]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    exit_code, modules = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert exit_code == 0 and "torch" in modules
    unwanted = ("dask", "distributed", "fhir", "recovery_model.evaluation", "recovery_model.readers.fhir", "sklearn",
                "scipy.stats", "venn_abers", "streamlit", "plotly", "shap", "sqlalchemy.dialects.postgresql")
    assert not [m for m in modules if m.split(".")[0] in unwanted or m.startswith(unwanted)]


def test_an_adverse_majority_is_named_and_never_inverted(tmp_path, capsys):
    """A cohort where 72 % did not survive (alive = 1 for survivors): without --event training refuses with the
    values and their shares; with --event 0 the risk ranks those who died (AUROC well above 0.5)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    n = 1500
    frame = pd.DataFrame({"stage": rng.integers(1, 5, n), "albumin": rng.normal(3.5, 0.6, n).round(1)})
    died = rng.random(n) < 1 / (1 + np.exp(-(1.0 + 0.9 * (frame["stage"] - 2.5) - 1.2 * (frame["albumin"] - 3.5))))
    frame["alive"] = (~died).astype(int)
    assert 0.6 < died.mean() < 0.8
    data = tmp_path / "lung.csv"
    frame.to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--target", "alive", "--output", str(tmp_path / "m"),
                 "--no-evaluate"]) == 2
    share = frame["alive"].value_counts(normalize=True)
    assert (f"Which value of 'alive' is the adverse outcome? Add --event 0 or --event 1 (0: {100 * share[0]:.0f} % "
            f"of rows, 1: {100 * share[1]:.0f} %).") in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--target", "alive", "--event", "0", "--output", str(tmp_path / "m"),
                 "--no-evaluate"]) == 0
    assert "Adverse outcome: alive = 0" in capsys.readouterr().out
    predictor = Predictor.load(tmp_path / "m")
    assert predictor.schema.target.risk_of == "risk of alive = 0"
    risk = predictor.predict_risk(frame.drop(columns="alive"))["risk"]
    assert roc_auc_score(died, risk) > 0.7
    assert main(["train", "--data", str(data), "--event", "0", "--output", str(tmp_path / "x")]) == 2
    assert "give both" in capsys.readouterr().err
