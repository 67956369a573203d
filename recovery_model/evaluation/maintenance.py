"""The model card's maintenance section: how the model in use is monitored and updated, how it did on this
hospital's own patients, and each change of it, filled from the registry, the monitor's kept alerts and the update
that made it (ONC HTI-1's source attributes for a predictive decision support intervention). What only the hospital
that deploys it can say is marked as such, never guessed."""

from __future__ import annotations

from typing import Any

import pandas as pd

DEPLOYER = "*To be stated by the deploying organisation:*"


def maintenance_section(metadata: dict[str, Any], update: dict[str, Any] | None, history: pd.DataFrame | None,
                        alerts: pd.DataFrame | None) -> str:
    """Markdown for the model whose checkpoint `metadata` and `update.json` (None unless an update made it) are
    given, with the registry's `history` and the monitor's kept `alerts` (None: the log cannot be read)."""
    lines = ["## Maintenance", "",
             "**Update and monitoring process.** Every risk shown is logged with its inputs, and outcomes are linked "
             "to it (`recovery outcomes`). `recovery monitor` reports per week or month: observed against expected "
             "events, AUROC, calibration slope, input drift, subgroups and card feedback, with alerts. When it "
             "alerts, `recovery update` chooses by closed testing among keeping the model, recalibrating it and "
             "refitting it on this hospital's matured outcomes, and checks the candidate on later patients held "
             "out; a candidate can score in the shadow first; a named person puts it in use "
             "(`recovery models promote`), and can roll it back.",
             "", f"**Frequency.** {DEPLOYER} how often the monitor runs, who reviews it, and what triggers an update.",
             "", "**Local validity.** " + _local_validity(update),
             "", "**Local fairness.** The monitor reports each period's figures by subgroup (age band, smoking, "
             f"chronic conditions), ratios outside 0.8–1.25 marked. {DEPLOYER} which groups matter locally and how "
             "their figures are reviewed.",
             "", "**Validation of each update.** " + _updates(metadata),
             "", "**Changes of the model in use.** " + _history(history),
             "", "**Latest monitoring alerts** (over the whole log, whichever model made the predictions). "
             + _alerts(alerts)]
    return "\n".join(lines) + "\n"


def _local_validity(update: dict[str, Any] | None) -> str:
    if update is None:
        return ("Not yet measured on this hospital's patients for this model: its figures above are from its "
                "training data. Record outcomes and run `recovery monitor`.")
    held = update["holdout"]["candidate"]
    oe, auroc = held["observed_expected"], held["auroc"]
    return (f"On this hospital's {held['patients']:,} latest patients held out ({held['events']} events): O/E "
            f"{oe['value']:.2f} ({oe['low']:.2f}–{oe['high']:.2f}), AUROC {auroc['value']:.3f} "
            f"({auroc['low']:.3f}–{auroc['high']:.3f}), calibration slope {held['calibration_slope']:.2f}.")


def _updates(metadata: dict[str, Any]) -> str:
    updates = metadata.get("updates", [])
    if not updates:
        return "None: this is the model as trained."
    return " ".join(f"{u['at'][:10]}: {u['method']} update of {u['from_version']} ({u['from_digest'][:12]}) on "
                    f"{u['development']['patients']:,} patients ({u['development']['events']} events), checked on "
                    f"{u['holdout']['patients']:,} later ones." for u in updates)


def _history(history: pd.DataFrame | None) -> str:
    if history is None:
        return "The prediction log cannot be read here, so the registry's record is not shown."
    if not len(history):
        return "None recorded: the model in use is the one installed (no promotion through the registry)."
    return " ".join(f"{row.when:%Y-%m-%d %H:%M} UTC, {row.change} by {row.by}: {row.why}."
                    for row in history.itertuples())


def _alerts(alerts: pd.DataFrame | None) -> str:
    if alerts is None:
        return "The prediction log cannot be read here."
    if not len(alerts):
        return "None in the latest monitoring reports."
    return "; ".join(f"{row.period_kind} from {row.period}, {row.kind}: {row.message.rstrip('.')}"
                     for row in alerts.itertuples()) + "."
