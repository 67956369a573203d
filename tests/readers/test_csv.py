import csv
import io

import pandas as pd
import pytest

from recovery_model.readers.csv import FORMULA_PREFIXES, to_safe_csv


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_text_cells_that_look_like_formulas_are_neutralised(prefix):
    dangerous = f"{prefix}cmd|' /C calc'!A0"
    frame = pd.DataFrame({"patient_id": [dangerous, "P1"], "risk": [0.5, -0.25]})
    rows = list(csv.reader(io.StringIO(to_safe_csv(frame).decode(), newline="")))
    assert rows[1][0] == "'" + dangerous
    assert rows[2] == ["P1", "-0.25"]  # numbers stay numbers, negative ones included


def test_header_names_are_neutralised_too():
    header = next(csv.reader(io.StringIO(to_safe_csv(pd.DataFrame({"=SUM(A1)": [1]})).decode())))
    assert header == ["'=SUM(A1)"]
