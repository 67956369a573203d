"""The bad-input corpus (CSV and FHIR) against the core (read + rank) and the command line."""

import pandas as pd
import pytest

from recovery_model.cli import main
from recovery_model.errors import DataValidationError
from recovery_model.readers.csv import read_patient_csv
from recovery_model.readers.table import read_upload
from tests.bad_input_corpus import CORPUS, FHIR_CORPUS, PARQUET_CORPUS, FileRefused

CASES = [pytest.param(case, id=case.name) for case in CORPUS]


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 40
    assert len({c.name for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CASES)
def test_core(case, default_predictor):
    expect = case.expect
    if isinstance(expect, FileRefused):
        with pytest.raises(DataValidationError, match=None) as error:
            default_predictor.rank(read_patient_csv(case.content, "ward.csv"), explain=False)
        assert expect.says in str(error.value)
        return
    ward = default_predictor.rank(read_patient_csv(case.content, "ward.csv"), explain=False)
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
    assert by_row["risk"].between(0, 1).all()


def _predict(content: bytes, filename: str, tmp_path, capsys):
    """`recovery predict` on the case's file: its exit code, what it printed, and where the ranked list went."""
    source, out = tmp_path / filename, tmp_path / "ranked.csv"
    source.write_bytes(content)
    code = main(["predict", "--input", str(source), "--output", str(out)])
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
    assert '"=' not in out.read_text() and ",=" not in out.read_text()


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
