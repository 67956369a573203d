"""One monitoring run, as every face does it: read the span of the log, compute the report, put registered past
versions beside the model in use when asked, and keep the alerts for Home when the report covers the whole log
(a report of a chosen span says nothing about the log as a whole)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recovery_model.monitoring.data import read_monitoring_data
from recovery_model.monitoring.report import MonitoringReport, ReportSettings, monitoring_report
from recovery_model.monitoring.shadow import ShadowComparison, rescored_pairs, shadow_comparison

if TYPE_CHECKING:
    from recovery_model.log.store import PredictionLog
    from recovery_model.scoring.predictor import Predictor


@dataclass(frozen=True)
class MonitoringRun:
    report: MonitoringReport
    rows: int  # the predictions read (what the caller audits)
    not_compared: tuple[str, ...] = ()  # past versions asked for that had no patients in the span to compare on


def run_monitor(log: PredictionLog, predictor: Predictor, settings: ReportSettings,
                compare: Sequence[str] = ()) -> MonitoringRun:
    """The report of the model in use over the span of `settings`; `compare`: registered versions (or digests)
    to score again on the same matured patients."""
    data = read_monitoring_data(log, predictor.schema, settings.since, settings.until)
    report = monitoring_report(data, predictor, settings)
    not_compared = []
    for name in compare:
        compared = past_version(log, predictor, name, settings)
        if not compared:
            not_compared.append(name)
        report["shadow"] += compared
    if settings.whole_log:
        log.keep_alerts(settings.period, report["alerts"])
    return MonitoringRun(report, sum(period["scored"] for period in report["periods"]), tuple(not_compared))


def past_version(log: PredictionLog, predictor: Predictor, name: str,
                 settings: ReportSettings) -> list[ShadowComparison]:
    """A registered model (version or digest) on the same matured patients as the model in use, rescored."""
    from recovery_model.log.registry import ModelRegistry, verified
    from recovery_model.scoring.predictor import Predictor

    registered = ModelRegistry(log).find(name)
    verified(registered.location, registered.digest)
    past = Predictor.load(registered.location)
    pairs = rescored_pairs(log, predictor, past, settings.since, settings.until)
    return [ShadowComparison(**entry, rescored=True) for entry in shadow_comparison(pairs, settings.period)]
