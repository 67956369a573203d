"""Drift false alarms and power on wards of 50: `python -m benchmarks.drift [--wards 200]`.

Wards drawn from the training population itself (a fresh synthetic sample, not the training rows): complete, every
value recorded, and as records show them (the record view the default model trains on). A ward of either kind must
be called drifted at most 5 % of the time. Then the same wards shifted as a hospital's case mix might shift (SpO2
4 points lower and heart rate 15 beats higher): they must be found at least 90 % of the time. And record-view wards
whose SpO2 was taken for only 30 % of patients, or whose smoking status was recorded for none: reported as missing
more than training, not as drifted. Scored with the
committed model's drift check, as `recovery predict`, the Ward page and the monitor call it. Writes
benchmarks/results/drift.json and .md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recovery_model.cohort import generate_cohort
from recovery_model.record_view import record_view
from recovery_model.scoring.predictor import Predictor

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WARD_SIZE, SEED = 50, 2031
SHIFT = {"oxygen_level": -4.0, "heart_rate": 15.0}
SPO2_TAKEN = 0.30


def shifted(ward: pd.DataFrame, predictor: Predictor) -> pd.DataFrame:
    out = ward.copy()
    for name, change in SHIFT.items():
        feature = predictor.schema.feature(name)
        out[name] = (out[name] + change).clip(feature.valid_min, feature.valid_max)
    return out


def spo2_rarely_taken(ward: pd.DataFrame, predictor: Predictor) -> pd.DataFrame:
    out = ward.copy()
    rng = np.random.default_rng(len(ward))
    out.loc[rng.random(len(out)) > SPO2_TAKEN, "oxygen_level"] = np.nan
    return out


def smoking_not_recorded(ward: pd.DataFrame, predictor: Predictor) -> pd.DataFrame:
    return ward.assign(smoker=np.nan)


def wilson(hits: int, n: int) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    z, p = 1.96, hits / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (
        1 + z * z / n)
    return centre - half, centre + half


def run(wards: int) -> dict:
    predictor = Predictor.load()
    names = predictor.schema.feature_names
    complete = generate_cohort(wards * WARD_SIZE, SEED)[names]
    records = record_view(generate_cohort(wards * WARD_SIZE, SEED), seed=SEED + 1)[names]
    kinds = {"complete": complete, "record view": records}
    out = {"wards": wards, "ward_size": WARD_SIZE, "shift": SHIFT, "results": {}}
    started = time.perf_counter()
    for kind, frame in kinds.items():
        changes = [("as drawn", None), ("shifted", shifted)]
        if kind == "record view":
            changes += [(f"SpO2 taken for {SPO2_TAKEN:.0%}", spo2_rarely_taken),
                        ("smoking status not recorded", smoking_not_recorded)]
        for label, change in changes:
            hits = missing_flags = 0
            for w in range(wards):
                ward = frame.iloc[w * WARD_SIZE:(w + 1) * WARD_SIZE].reset_index(drop=True)
                report = predictor.check_drift(change(ward, predictor) if change else ward)
                hits += report.drifted
                missing_flags += bool(report.missing_more)
            low, high = wilson(hits, wards)
            out["results"][f"{kind}, {label}"] = {"drifted": hits / wards, "ci": [low, high],
                                                  "missing_more": missing_flags / wards}
            print(f"{kind:>12}, {label:<8}: drifted {hits}/{wards} = {hits / wards:.1%} "
                  f"(95 % CI {low:.1%}–{high:.1%}); more missing than training in {missing_flags}/{wards}")
    out["seconds"] = time.perf_counter() - started
    return out


def write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "drift.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = [f"# Drift on wards of {result['ward_size']} ({result['wards']} wards each)", "",
             "| wards | called drifted | 95 % CI | more missing than training |", "|---|---|---|---|"]
    for name, row in result["results"].items():
        lines.append(f"| {name} | {row['drifted']:.1%} | {row['ci'][0]:.1%}–{row['ci'][1]:.1%} | "
                     f"{row['missing_more']:.1%} |")
    (RESULTS / "drift.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wards", type=int, default=200)
    args = parser.parse_args()
    write(run(args.wards))


if __name__ == "__main__":
    main()
