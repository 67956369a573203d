import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from recovery_model.log.outcomes import import_outcomes
from recovery_model.log.records import Context, Source, prediction_records
from recovery_model.monitoring.data import read_monitoring_data
from recovery_model.monitoring.report import ReportSettings, monitoring_report
from recovery_model.monitoring.simulation import Deployment, simulate_deployment

MONDAY = datetime(2026, 9, 7, tzinfo=UTC)  # ISO week 37


def log_week(log, predictor, cohort, when, ward="W1"):
    ranked = predictor.rank(cohort.drop(columns=["recovered"]), explain=False)
    records = prediction_records(ranked.ranked, predictor.schema,
                                 Context.for_model(predictor, Source.CLI_PREDICT, predicted_at=when, ward=ward))
    log.write(records)
    return ranked.ranked


@pytest.fixture
def two_weeks(log, default_predictor, cohort_unseen, tmp_path):
    """Two ISO weeks of 200 patients each with their true outcomes, and a third week still without them."""
    cohort = cohort_unseen.assign(patient_id=[f"M{i:03d}" for i in range(len(cohort_unseen))])
    scored = [log_week(log, default_predictor, cohort.iloc[:200], MONDAY + timedelta(hours=10)),
              log_week(log, default_predictor, cohort.iloc[200:400], MONDAY + timedelta(days=8, hours=3))]
    later = cohort_unseen.assign(patient_id=[f"L{i:03d}" for i in range(len(cohort_unseen))]).iloc[:50]
    log_week(log, default_predictor, later, MONDAY + timedelta(days=60))
    outcomes = cohort[["patient_id", "recovered"]].iloc[:400].assign(outcome_time="2026-09-25T00:00:00Z")
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    import_outcomes(log, tmp_path / "outcomes.csv", default_predictor.schema)
    return scored, cohort.iloc[:400]


def report_of(log, predictor, **settings):
    data = read_monitoring_data(log, predictor.schema, settings.get("since"), settings.get("until"))
    return monitoring_report(data, predictor, ReportSettings(**settings))


def test_every_figure_equals_a_hand_computation_on_the_joined_rows(log, default_predictor, two_weeks):
    scored, cohort = two_weeks
    report = report_of(log, default_predictor, window_days=1)
    periods = report["periods"]
    assert [p["start"] for p in periods][:2] == ["2026-09-07", "2026-09-14"]  # Mondays
    for period, ranked in zip(periods, scored, strict=False):
        truth = cohort.set_index("patient_id").loc[ranked["patient_id"], "recovered"].to_numpy() == 0
        risk = ranked["risk"].to_numpy()
        assert period["scored"] == period["with_outcome"] == 200 and period["matured"]
        assert period["events"] == truth.sum()
        assert period["expected_events"] == pytest.approx(risk.sum(), rel=1e-12)
        assert period["observed_expected"] == pytest.approx(truth.sum() / risk.sum(), rel=1e-12)
        assert period["auroc"] == pytest.approx(roc_auc_score(truth, risk), rel=1e-12)
        assert period["flag_rate"] == pytest.approx(np.mean(ranked["tier"] == "high"))
        high = period["at_thresholds"]["high"]
        flagged = risk >= default_predictor.thresholds.high
        assert high["flagged"] == flagged.sum()
        assert high["sensitivity"] == pytest.approx((flagged & truth).sum() / truth.sum())
        assert period["estimated"]["expected_events"] == pytest.approx(risk.sum(), rel=1e-12)
    assert periods[0]["alert_burden"] == {"W1": pytest.approx(np.sum(scored[0]["tier"] == "high") / 7)}


def test_a_period_whose_outcomes_have_not_arrived_is_marked_and_estimated(log, default_predictor, two_weeks):
    report = report_of(log, default_predictor, window_days=1)
    last = report["periods"][-1]
    assert last["scored"] == 50 and not last["matured"] and last["with_outcome"] == 0
    assert last["events"] is None and last["auroc"] is None and last["observed_expected"] is None
    assert last["estimated"]["expected_events"] > 0 and 0.5 < last["estimated"]["expected_auroc"] < 1


def test_the_window_decides_maturity(log, default_predictor, two_weeks):
    """Outcomes arrived through 25 September: with a 30-day window, no week has matured yet."""
    report = report_of(log, default_predictor, window_days=30)
    assert not any(p["matured"] for p in report["periods"])


def test_since_is_inclusive_until_exclusive_and_months_are_calendar_months(log, default_predictor, two_weeks):
    report = report_of(log, default_predictor, since=datetime(2026, 9, 14, tzinfo=UTC),
                       until=datetime(2026, 9, 16, 3, tzinfo=UTC), window_days=1)
    assert [p["start"] for p in report["periods"]] == ["2026-09-14"]
    assert report["periods"][0]["scored"] == 0 + 200
    monthly = report_of(log, default_predictor, period="month", window_days=1)
    assert [p["start"] for p in monthly["periods"]] == ["2026-09-01", "2026-11-01"]


def test_the_report_is_json_with_null_for_what_is_undefined(log, default_predictor, two_weeks):
    report = report_of(log, default_predictor, window_days=1)
    text = json.dumps(report, allow_nan=False)
    for key in ("start", "scored", "with_outcome", "matured", "events", "expected_events", "observed_expected",
                "observed_expected_low", "observed_expected_high", "auroc", "flag_rate"):
        assert key in report["periods"][0]
    assert "NaN" not in text and json.loads(text)["periods"][-1]["auroc"] is None


def test_subgroup_cells_under_ten_are_suppressed(log, default_predictor, two_weeks):
    report = report_of(log, default_predictor, window_days=1)
    groups = [g for s in report["periods"][0]["subgroups"] for g in s["groups"]]
    assert groups and all(g["suppressed"] == (g["n"] < 10) for g in groups)
    assert all("observed_expected" not in g for g in groups if g["suppressed"])
    assert sum(g["reference"] for s in report["periods"][0]["subgroups"][:1] for g in s["groups"]
               if not g["suppressed"]) == 1


def test_a_simulated_deployment_alerts_from_the_drifted_month_and_not_before(log, default_predictor):
    deployment = Deployment(months=4, drift_from_month=3, shift=1.2, patients_per_week=150, seed=1)
    counts = simulate_deployment(log, default_predictor, deployment)
    assert counts["predictions"] == counts["outcomes"] == counts["linked"] == 150 * counts["weeks"]
    report = report_of(log, default_predictor, period="month", window_days=15)
    calibration = [a["period"] for a in report["alerts"] if a["kind"] == "calibration"]
    drift_start = deployment.drift_start.date().isoformat()
    assert calibration and min(calibration) == drift_start
    assert all(a["period"] >= drift_start for a in report["alerts"])
    before = [p for p in report["periods"] if p["start"] < drift_start]
    assert before and all(p["matured"] and p["observed_expected_low"] <= 1 <= p["observed_expected_high"]
                          for p in before)


def test_alert_burden_counts_each_patient_once_a_day_by_the_ward_they_are_on(log, default_predictor,
                                                                            cohort_unseen):
    """A ward list scored twice on one day (uploaded again, or as CSV and as Parquet) is the same patients; a
    list whose rows name their wards is counted by those wards, never by the file's name."""
    cohort = cohort_unseen.iloc[:120].assign(patient_id=[f"B{i:03d}" for i in range(120)],
                                             ward=["4 East"] * 60 + ["5 North"] * 60)
    for hour in (9, 14):
        log_week(log, default_predictor, cohort, MONDAY + timedelta(hours=hour), ward=None)
    ranked = default_predictor.rank(cohort.drop(columns=["recovered"]), explain=False).ranked
    burden = report_of(log, default_predictor, window_days=1)["periods"][0]["alert_burden"]
    high = ranked[ranked["tier"] == "high"].groupby("ward").size()
    assert burden == {ward: pytest.approx(count / 7) for ward, count in high.items()}


def test_the_drift_sample_is_pandas_sample_of_the_period_in_the_order_logged(log, default_predictor, cohort_unseen):
    """Two lists scored for the same moment and a third an hour later, each logged ranked by risk: the sample a
    period's drift test reads is the one `DataFrame.sample(random_state=0)` draws from its rows by time, run and
    input row, the same on either database (SQLite alone would give them in the ranked order they were written)."""
    cohort = cohort_unseen.assign(patient_id=[f"D{i:05d}" for i in range(len(cohort_unseen))])
    parts = [cohort.iloc[:150], cohort.iloc[150:250], cohort.iloc[250:]]
    for part, when in zip(parts, (MONDAY, MONDAY, MONDAY + timedelta(hours=1)), strict=True):
        log_week(log, default_predictor, part, when)
    data = read_monitoring_data(log, default_predictor.schema)
    (start,) = data.period_starts("week")
    positions = np.random.RandomState(0).choice(len(cohort), 300, replace=False)  # as _drift draws them
    sample = data.inputs(start, start + timedelta(days=7), positions)
    features = default_predictor.schema.feature_names
    expected = cohort[features].astype(float).sample(300, random_state=0).reset_index(drop=True)
    np.testing.assert_allclose(sample[features].to_numpy(), expected.to_numpy(), rtol=1e-6)


def test_models_cards_feedback_ranges_and_atypical_rows_are_counted_per_period(log, default_predictor,
                                                                              cohort_unseen):
    """What the database counts for a period (the models that scored it, cards, feedback) and the per-prediction
    means, against the rows as written."""
    from recovery_model.log.cards import CardFeedback, record_feedback
    from recovery_model.log.records import Context, Source, prediction_records

    cohort = cohort_unseen.iloc[:40].assign(patient_id=[f"C{i:03d}" for i in range(40)])
    ranked = default_predictor.rank(cohort.drop(columns=["recovered"]), explain=False).ranked
    plain = Context.for_model(default_predictor, Source.CLI_PREDICT, predicted_at=MONDAY + timedelta(hours=1))
    log.write(prediction_records(ranked.iloc[:30], default_predictor.schema, plain))
    older = Context(Source.CLI_PREDICT, "0.0.9", "ab" * 32, predicted_at=MONDAY + timedelta(hours=2))
    log.write(prediction_records(ranked.iloc[30:36], default_predictor.schema, older))
    cards = [str(uuid.uuid4()) for _ in range(4)]
    for row, card in zip(range(36, 40), cards, strict=True):
        log.write(prediction_records(ranked.iloc[[row]], default_predictor.schema,
                                     Context.for_model(default_predictor, Source.CDS_HOOKS,
                                                       predicted_at=MONDAY + timedelta(hours=3)), card_uuid=card))
    answers = [("accepted", []), ("overridden", ["not my patient"]), ("overridden", ["not my patient", "stale"])]
    record_feedback(log, [CardFeedback(card, outcome, reasons, None, f"{index:064d}")
                          for index, (card, (outcome, reasons)) in enumerate(zip(cards, answers, strict=False))])
    (period,) = report_of(log, default_predictor, window_days=1)["periods"]
    assert period["scored"] == 40
    assert period["model_versions"] == sorted([f"0.0.9 ({'ab' * 6})",
                                               f"{default_predictor.version} ({default_predictor.digest[:12]})"])
    assert period["feedback"] == {"cards": 4, "accepted": 1, "overridden": 2, "accept_rate": pytest.approx(1 / 3),
                                  "override_reasons": {"not my patient": 2, "stale": 1}}
    assert period["range_width"] == pytest.approx(np.mean(ranked["risk_high"] - ranked["risk_low"]), rel=1e-9)
    assert period["atypical_rate"] == pytest.approx(ranked["atypical"].astype(float).mean(), rel=1e-9)
