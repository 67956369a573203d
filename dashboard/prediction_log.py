"""The pages' door to the prediction log: opened once per process, written through, and loud when it fails.

A page that shows a risk logs it here (the Patient page its estimate and what-ifs, the Ward page each scored row)
with the signed-in user and role. If the log is configured but cannot be used, the page says so plainly and goes
on showing the risk: the clinician is not left without it, and nothing pretends to be logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pandas as pd
import streamlit as st

from recovery_model import RecoveryError
from recovery_model.access import OPEN_ACCESS, User
from recovery_model.log.database import locate
from recovery_model.log.records import Context, Source, driver_texts, prediction_records
from recovery_model.log.registry import ModelRegistry
from recovery_model.log.shadow import shadow_records
from recovery_model.log.spool import DurableLog, Logged
from recovery_model.log.store import PredictionLog
from recovery_model.monitoring.data import PERIODS
from recovery_model.scoring.assessment import Assessment, RankedWard

from loading import shadow_or_none
from session import Key

logger = logging.getLogger("recovery.dashboard")
T = TypeVar("T")

if TYPE_CHECKING:  # Home shows the alerts banner and must not wait for torch
    from recovery_model.scoring.predictor import Predictor


@st.cache_resource(show_spinner=False)
def _open(url: str) -> PredictionLog:
    return PredictionLog.open(None if locate().embedded else url)


def prediction_log() -> PredictionLog | None:
    """The log, or None after saying on the page why it cannot be used (a failed open is tried again next run)."""
    try:
        return _open(locate().url)
    except RecoveryError as exc:
        _cannot_log(exc)
        return None


def read_log(read: Callable[[PredictionLog], T], what: str) -> T | None:
    """A page's read of the log; None after saying plainly, in place of `what`, that it cannot be read now (the
    risks on the page do not depend on it)."""
    log = prediction_log()
    if log is None:
        return None
    try:
        return read(log)
    except RecoveryError as exc:
        st.info(f"{what} cannot be read now: {exc}", icon=":material/database_off:")
        return None


def log_rows(predictor: Predictor, scored: Assessment | RankedWard, source: Source, **context) -> list[str]:
    """Log the rows of an assessment (all of them) or a ranked ward (its scored rows); their ids, [] if not logged."""
    log = prediction_log()
    if log is None:
        return []
    user: User = st.session_state.get(Key.USER) or User("local", OPEN_ACCESS)
    rows = scored.ranked if isinstance(scored, RankedWard) else scored.rows
    shared = Context.for_model(predictor, source, user=user.name, role=user.role, **context)
    drivers = driver_texts(rows, scored.explanation, predictor.schema)
    records = prediction_records(rows, predictor.schema, shared, drivers)
    durable = _durable(log.location.url)
    try:
        if durable.write(records) is Logged.KEPT:
            st.warning("**Logged on this server for now:** the prediction log's database cannot be reached; what "
                       "is shown here is kept and written to it when it is back.", icon=":material/database_off:")
    except RecoveryError as exc:
        _cannot_log(exc)
        return []
    if source is not Source.PATIENT_WHATIF:
        _log_shadow(durable, rows, shared)
    return records["id"]


@st.cache_resource(show_spinner=False)
def _durable(url: str) -> DurableLog:
    """One per process and database: the pages' sessions share its spool."""
    return DurableLog(_open(url))


def _log_shadow(durable: DurableLog, rows: pd.DataFrame, context: Context) -> None:
    """The shadow model's scores for the same rows, logged and never shown; a shadow that cannot score or be logged
    leaves the page as it is (the server's log says why)."""
    try:
        shadow = shadow_or_none()
        if shadow is not None:
            durable.write(shadow_records(shadow, rows, context))
    except RecoveryError as exc:
        logger.error("shadow scores not logged: %s", exc)


def alerts_banner(can_open_monitoring: bool) -> None:
    """The alerts of the latest monitoring reports (kept in the log per period kind: nothing is computed here),
    counted per report as the Monitoring page counts them: a weekly and a monthly report are never summed."""
    alerts = read_log(PredictionLog.current_alerts, "The monitoring alerts")
    if alerts is None or not len(alerts):
        return
    reports = "; ".join(_report_summary(kind, alerts[alerts["period_kind"] == kind])
                        for kind in sorted(set(alerts["period_kind"]), key=_report_order))
    latest = alerts.iloc[0]
    where = "See the Monitoring page." if can_open_monitoring else "The analysts who watch the model can say more."
    st.warning(f"**Monitoring: {reports}.** Latest, for the {latest['period_kind']} from {latest['period']}: "
               f"{latest['message'].rstrip('.')}. {where}", icon=":material/notifications_active:")


def _report_order(period_kind: str) -> int:
    return list(PERIODS).index(period_kind) if period_kind in PERIODS else len(PERIODS)


def _report_summary(period_kind: str, alerts) -> str:
    """'7 alerts in the weekly report (3 calibration, 2 drift, 2 subgroup)'."""
    kinds = alerts["kind"].str.replace("_", " ").value_counts()
    count = len(alerts)
    return (f"{count} alert{'' if count == 1 else 's'} in the {period_kind}ly report ("
            + ", ".join(f"{n} {kind}" for kind, n in kinds.items()) + ")")


def kept_alerts() -> pd.DataFrame | None:
    """The latest monitoring reports' alerts (None when the log cannot be used)."""
    return read_log(PredictionLog.current_alerts, "The monitoring alerts")


def model_history() -> pd.DataFrame | None:
    """The registry's changes of the model in use, newest first (None when the log cannot be used)."""
    return read_log(lambda log: ModelRegistry(log).history(), "The model's history")


def _cannot_log(exc: Exception) -> None:
    st.error(f"**The prediction log cannot be used: risks shown here are not being logged.** {exc} The risks "
             "themselves are still correct; tell the team that runs this service.", icon=":material/database_off:")
