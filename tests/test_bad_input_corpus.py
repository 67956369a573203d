"""The bad-input corpus against the core (read + rank) and the command line."""

import pytest

from recovery_model.cli import main
from recovery_model.errors import DataValidationError
from recovery_model.io import read_patient_csv
from tests.bad_input_corpus import CORPUS, FileRefused, Rows

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
    assert ward.counts["rows"] == expect.rows
    assert ward.counts["scored"] == expect.scored
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
    if expect.warning:
        assert any(expect.warning in w for w in ward.warnings)
    assert by_row["risk"].between(0, 1).all()


@pytest.mark.parametrize("case", CASES)
def test_cli(case, default_predictor, tmp_path, capsys):
    source, out = tmp_path / "ward.csv", tmp_path / "ranked.csv"
    source.write_bytes(case.content)
    code = main(["predict", "--input", str(source), "--output", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if isinstance(case.expect, FileRefused):
        assert code == 2 and case.expect.says in captured.err
        assert not out.exists()
        return
    assert code == 0
    assert f"{case.expect.rows} rows in: {case.expect.scored} scored" in captured.out
    for row, phrase in case.expect.rejected.items():
        assert f"row {row}: " in captured.err and phrase in captured.err
    assert out.read_text().count("\n") == case.expect.scored + 1
    if case.expect.rejected:
        assert (tmp_path / "ranked_rejected.csv").read_text().count("\n") == len(case.expect.rejected) + 1
    assert "\n=" not in out.read_text() and ",=" not in out.read_text()


def test_row_limit_is_clear(monkeypatch):
    monkeypatch.setattr("recovery_model.io.MAX_ROWS", 3)
    content = CORPUS[9].content  # five valid rows
    with pytest.raises(DataValidationError, match="more than 3 rows"):
        read_patient_csv(content, "ward.csv")


def test_rows_object_counts():
    assert Rows(scored=4, rejected={1: "x"}).rows == 5
