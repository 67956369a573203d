"""Parquet in and out of `recovery predict`: the same ranking, counts and refusals as CSV."""

import pandas as pd
import pytest

from recovery_model.batch.local import rank_file
from recovery_model.errors import DataValidationError
from tests.conftest import DATA


@pytest.fixture
def ward():
    return pd.read_csv(DATA / "sample_ward.csv", dtype={"patient_id": str})


def test_parquet_in_and_out_ranks_like_csv_across_chunks(small_predictor, ward, tmp_path):
    ward.to_parquet(tmp_path / "ward.parquet", index=False)
    from_csv = rank_file(small_predictor, DATA / "sample_ward.csv", tmp_path / "ranked.csv", tmp_path / "rej.csv",
                         top_k=5, chunk_rows=13)
    from_parquet = rank_file(small_predictor, tmp_path / "ward.parquet", tmp_path / "ranked.parquet",
                             tmp_path / "rej2.csv", top_k=5, chunk_rows=13)
    csv_out, parquet_out = pd.read_csv(tmp_path / "ranked.csv"), pd.read_parquet(tmp_path / "ranked.parquet")
    assert list(parquet_out.columns) == list(csv_out.columns)
    assert list(parquet_out["patient_id"]) == list(csv_out["patient_id"].astype(str))
    pd.testing.assert_series_equal(parquet_out["risk"], csv_out["risk"], check_dtype=False)
    assert list(parquet_out["rank"]) == list(range(1, len(ward) + 1)) and parquet_out["in_top_k"].sum() == 5
    assert parquet_out["risk"].is_monotonic_decreasing and parquet_out["bed"].tolist() == csv_out["bed"].tolist()
    assert from_parquet.counts == from_csv.counts


def test_text_pass_through_stays_text_when_a_chunk_has_none(small_predictor, ward, tmp_path):
    ward["note"] = [None] * 20 + ["call family"] * (len(ward) - 20)
    ward.to_parquet(tmp_path / "ward.parquet", index=False)
    rank_file(small_predictor, tmp_path / "ward.parquet", tmp_path / "ranked.parquet", tmp_path / "rej.csv",
              chunk_rows=10)
    out = pd.read_parquet(tmp_path / "ranked.parquet")
    assert out["note"].notna().sum() == len(ward) - 20


def test_wrong_types_reject_rows_by_name_and_nothing_is_lost(small_predictor, ward, tmp_path):
    ward = ward.astype({"oxygen_level": str})
    ward.loc[3, "oxygen_level"] = "low"
    ward.to_parquet(tmp_path / "ward.parquet", index=False)
    result = rank_file(small_predictor, tmp_path / "ward.parquet", tmp_path / "ranked.parquet",
                       tmp_path / "rej.csv")
    assert result.counts["rows"] == len(ward) == result.counts["scored"] + result.counts["rejected"]
    assert result.rejected == [("4", "oxygen_level = 'low': not a number (expected %)")]
    assert len(pd.read_parquet(tmp_path / "ranked.parquet")) == len(ward) - 1


def test_a_file_that_is_not_parquet_is_refused_by_name(small_predictor, tmp_path):
    fake = tmp_path / "ward.parquet"
    fake.write_bytes((DATA / "sample_ward.csv").read_bytes())
    with pytest.raises(DataValidationError, match=r"ward.parquet is not a readable Parquet file"):
        rank_file(small_predictor, fake, tmp_path / "out.csv", tmp_path / "rej.csv")


def test_format_overrides_the_extension(small_predictor, ward, tmp_path):
    ward.to_parquet(tmp_path / "ward.data", index=False)
    result = rank_file(small_predictor, tmp_path / "ward.data", tmp_path / "out.data", tmp_path / "rej.csv",
                       declared_format="parquet")
    assert result.counts["scored"] == len(ward) and len(pd.read_parquet(tmp_path / "out.data")) == len(ward)
