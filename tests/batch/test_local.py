import pandas as pd

from recovery_model.batch.local import rank_file
from tests.conftest import DATA


def test_chunked_ranking_equals_ranking_in_one_piece(default_predictor, tmp_path):
    ward = pd.read_csv(DATA / "sample_ward.csv", dtype=str)
    ward.loc[20, "oxygen_level"] = "300"            # rejected, in the third chunk
    ward.loc[40, "patient_id"] = ward.loc[3, "patient_id"]  # duplicated across chunks
    source = tmp_path / "ward.csv"
    ward.to_csv(source, index=False)
    out, rejected = tmp_path / "ranked.csv", tmp_path / "rejected.csv"
    result = rank_file(default_predictor, source, out, rejected, top_k=6, threshold=0.05, chunk_rows=7)
    whole = default_predictor.rank(pd.read_csv(source, dtype=str), top_k=6, threshold=0.05, explain=False)
    ranked = pd.read_csv(out, dtype={"patient_id": str})
    assert list(ranked["patient_id"]) == list(whole.ranked["patient_id"])
    assert list(ranked["rank"]) == list(range(1, 48))
    assert ranked["in_top_k"].tolist() == [True] * 6 + [False] * 41
    assert (ranked["above_threshold"] == (ranked["risk"] >= 0.05)).all()
    assert result.counts == whole.counts
    assert list(pd.read_csv(rejected)["row"]) == [21]
    assert result.warnings == [f"1 patient id appears on more than one row ('{ward.loc[3, 'patient_id']}' on rows 4, "
                               "41); each is scored, check for a duplicated extract."]
