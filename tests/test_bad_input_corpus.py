"""The bad-input corpus (CSV, FHIR, Parquet) against the core (read + rank) and the command line, on both
engines: a CSV or Parquet case gets the same exit status, counts and reasons from `--engine dask`."""

import re

import pandas as pd
import pytest

from recovery_model.cli import main
from recovery_model.errors import DataValidationError, ParameterError
from recovery_model.model.config import NetworkConfig
from recovery_model.readers.csv import read_patient_csv
from recovery_model.readers.table import read_upload
from recovery_model.scoring.columns import OUTDATED
from tests.bad_input_corpus import (
    CONFIG_CORPUS,
    CORPUS,
    DATABASE_CORPUS,
    FHIR_CORPUS,
    OPTION_CORPUS,
    OUTCOMES_CORPUS,
    PARAMETER_CORPUS,
    PARQUET_CORPUS,
    FileRefused,
)
from tests.conftest import DATA

CASES = [pytest.param(case, id=case.name) for case in CORPUS]


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 40
    assert len({c.name for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CASES)
def test_core(case, default_predictor):
    expect = case.expect
    if isinstance(expect, FileRefused):
        with pytest.raises(DataValidationError, match=None) as error:
            default_predictor.rank(read_upload(case.content, "ward.csv", default_predictor.schema).frame,
                                   explain=False)
        assert expect.says in str(error.value)
        return
    ward = default_predictor.rank(read_upload(case.content, "ward.csv", default_predictor.schema).frame, explain=False)
    _check_rows(ward, expect)
    if expect.warning:
        assert any(expect.warning in w for w in ward.warnings)


def _check_rows(ward, expect) -> None:
    """Counts, each rejected row's reason, each imputed and unusual value: as the case expects."""
    assert (ward.counts["rows"], ward.counts["scored"]) == (expect.rows, expect.scored)
    assert ward.counts["scored"] + ward.counts["rejected"] == ward.counts["rows"]
    reasons = dict(zip(ward.rejected["row"], ward.rejected["problems"], strict=True))
    assert set(reasons) == set(expect.rejected)
    for row, phrase in expect.rejected.items():
        assert phrase in reasons[row]
    by_row = ward.ranked.set_index("row")
    for row, names in expect.imputed.items():
        assert by_row.loc[row, "imputed_values"] == names
    for row, phrase in expect.unusual.items():
        assert phrase in by_row.loc[row, "unusual_values"]
    for row, phrase in expect.outdated.items():
        assert phrase in by_row.loc[row, OUTDATED]
    assert by_row["risk"].between(0, 1).all()


def _predict(content: bytes, filename: str, tmp_path, capsys, *options: str):
    """`recovery predict` on the case's file: its exit code, what it printed, and where the ranked list went."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    source, out = tmp_path / filename, tmp_path / "ranked.csv"
    source.write_bytes(content)
    code = main(["predict", "--input", str(source), "--output", str(out), *options])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured, out


@pytest.mark.parametrize("case", CASES)
def test_cli(case, default_predictor, tmp_path, capsys):
    code, captured, out = _predict(case.content, "ward.csv", tmp_path, capsys)
    expect = case.for_cli
    if isinstance(expect, FileRefused):
        assert code == 2 and expect.says in captured.err
        return
    assert code == 0
    assert f"{expect.rows} rows in: {expect.scored} scored" in captured.out
    for row, phrase in expect.rejected.items():
        assert f"row {row}: " in captured.err and phrase in captured.err
    ranked = pd.read_csv(out)
    assert len(ranked) == expect.scored and ranked["risk"].is_monotonic_decreasing
    if expect.rejected:
        assert list(pd.read_csv(tmp_path / "ranked_rejected.csv")["row"]) == sorted(expect.rejected)
    if expect.warning:
        assert "on more than one row" in captured.err
    if expect.outdated:  # the ranked list is in risk order: the row's note by its patient id
        notes = ranked.set_index("patient_id")[OUTDATED].fillna("")
        for row, phrase in expect.outdated.items():
            assert phrase in notes[_patient_on_row(case.content, row)]
        assert (notes != "").sum() == len(expect.outdated) and "oldest_value_time" in ranked.columns
    assert '"=' not in out.read_text() and ",=" not in out.read_text()


def _patient_on_row(content: bytes, row: int) -> str:
    return read_patient_csv(content, "ward.csv")["patient_id"].iloc[row - 1]


def test_row_limit_is_clear(monkeypatch):
    monkeypatch.setattr("recovery_model.readers.csv.MAX_ROWS", 3)
    content = CORPUS[9].content  # five valid rows
    with pytest.raises(DataValidationError, match="more than 3 rows"):
        read_patient_csv(content, "ward.csv")


FHIR_CASES = [pytest.param(case, id=case.name) for case in FHIR_CORPUS]


def test_the_fhir_corpus_covers_each_kind():
    assert len(FHIR_CORPUS) >= 15 and len({c.name for c in FHIR_CORPUS}) == len(FHIR_CORPUS)


@pytest.mark.parametrize("case", FHIR_CASES)
def test_fhir_core(case, default_predictor):
    schema = default_predictor.schema
    if isinstance(case.expect, FileRefused):
        with pytest.raises(DataValidationError) as error:
            read_upload(case.content, case.filename, schema)
        assert case.expect.says in str(error.value)
        return
    upload = read_upload(case.content, case.filename, schema)
    ward = default_predictor.rank(upload.frame, explain=False)
    _check_rows(ward, case.expect)
    imputed = ward.ranked.set_index("row")["imputed_values"]
    assert set(imputed.index[imputed != ""]) == set(case.expect.imputed)  # nothing else was left blank
    assert case.note in " ".join(upload.notes)


@pytest.mark.parametrize("case", FHIR_CASES)
def test_fhir_cli(case, default_predictor, tmp_path, capsys):
    code, captured, out = _predict(case.content, case.filename, tmp_path, capsys)
    if isinstance(case.expect, FileRefused):
        assert code == 2 and case.expect.says in captured.err
        return
    assert code == 0 and f"{case.expect.rows} rows in: {case.expect.scored} scored" in captured.out
    for row, phrase in case.expect.rejected.items():
        assert f"row {row}: " in captured.err and phrase in captured.err
    assert case.note in captured.err
    assert len(pd.read_csv(out)) == case.expect.scored


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in PARQUET_CORPUS])
def test_parquet_cli(case, default_predictor, tmp_path, capsys):
    code, captured, out = _predict(case.content, "ward.parquet", tmp_path, capsys)
    if isinstance(case.expect, FileRefused):
        assert code == 2 and case.expect.says in captured.err and "ward.parquet" in captured.err
        return
    assert code == 0 and f"{case.expect.rows} rows in: {case.expect.scored} scored" in captured.out
    for row, phrase in case.expect.rejected.items():
        assert f"row {row}: {phrase}" in captured.err
    assert len(pd.read_csv(out)) == case.expect.scored


ENGINE_CASES = ([pytest.param(case, "ward.csv", id=case.name) for case in CORPUS]
                + [pytest.param(case, "ward.parquet", id=case.name) for case in PARQUET_CORPUS])


@pytest.mark.parametrize(("case", "filename"), ENGINE_CASES)
def test_both_engines_agree(case, filename, dask_cluster, tmp_path, capsys):
    """One process and a Dask cluster: the same exit status, counts, refusal and reason for every row."""
    runs = {engine: _predict(case.content, filename, tmp_path / engine, capsys, *options) for engine, options in
            (("local", ()), ("dask", ("--engine", "dask", "--scheduler", dask_cluster.scheduler_address)))}
    (local_code, local, _), (dask_code, dask, _) = runs["local"], runs["dask"]
    assert local_code == dask_code
    if local_code == 2:
        assert _error(local.err, tmp_path / "local") == _error(dask.err, tmp_path / "dask")
        return
    assert _counts(local.out) == _counts(dask.out)
    assert _reasons(local.err) == _reasons(dask.err.replace(f" of {filename}:", ":"))
    assert ("on more than one row" in local.err) == ("on more than one row" in dask.err)


def _error(err: str, folder) -> str:
    return err.replace(str(folder), "FOLDER").strip()


def _counts(out: str) -> str:
    return re.search(r"\d+ rows in: .* rejected", out).group()


def _reasons(err: str) -> list[str]:
    return [line.strip() for line in err.splitlines() if line.startswith("  row ")]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in OPTION_CORPUS])
def test_options_are_refused_before_anything_loads(case, tmp_path, monkeypatch, capsys):
    """By argparse (a number out of its range) or by the command before it trains or scores (an outcome not named)."""
    monkeypatch.chdir(tmp_path)
    try:
        code = main(list(case.argv))
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and case.says in err and "Traceback" not in err


@pytest.mark.parametrize(("name", "options", "says"), PARAMETER_CORPUS, ids=[c[0] for c in PARAMETER_CORPUS])
def test_the_api_refuses_the_same_parameters(name, options, says, default_predictor):
    ward = read_patient_csv(CORPUS[9].content, "ward.csv")
    with pytest.raises(ParameterError) as error:
        default_predictor.rank(ward, **options)
    assert says in str(error.value)


@pytest.mark.parametrize(("name", "fields", "says"), CONFIG_CORPUS, ids=[c[0] for c in CONFIG_CORPUS])
def test_every_network_config_field_is_checked(name, fields, says):
    with pytest.raises(ParameterError) as error:
        NetworkConfig(**fields)
    assert says in str(error.value)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in OUTCOMES_CORPUS])
def test_outcome_files_are_refused_or_read_with_every_bad_row_named(case, tmp_path, capsys):
    path = tmp_path / case.filename
    path.write_bytes(case.content)
    code = main(["outcomes", "--input", str(path)])
    captured = capsys.readouterr()
    assert code == case.exit_code and "Traceback" not in captured.err
    assert case.says in (captured.out if code == 0 else captured.err)


@pytest.mark.parametrize(("name", "url", "says"), DATABASE_CORPUS, ids=[c[0] for c in DATABASE_CORPUS])
def test_a_log_that_cannot_be_used_stops_predict_before_it_scores(name, url, says, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECOVERY_DATABASE_URL", url.format(tmp=tmp_path))
    output = tmp_path / "ranked.csv"
    code = main(["predict", "--input", str(DATA / "sample_ward.csv"), "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "secret" not in err and "Traceback" not in err
    assert not output.exists()
