"""`recovery update`: a candidate model from the log's own outcomes, and how it does beside the model in use;
`recovery models`: which model every face uses, changed only with a name and a reason."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from recovery_model.cli.options import checkpoint_option, fraction, in_use, seed


def _update(args: argparse.Namespace) -> int:
    from recovery_model.access import AuditLog
    from recovery_model.log.store import PredictionLog
    from recovery_model.scoring.predictor import Predictor
    from recovery_model.times import parse_start
    from recovery_model.updating.update import UpdateSettings, update, write_update

    settings = UpdateSettings(since=args.since and parse_start(args.since, "--since"),
                              until=args.until and parse_start(args.until, "--until"), high_ppv=args.high_ppv,
                              seed=args.seed)
    predictor = Predictor.load(in_use(args))
    log = PredictionLog.open()
    result = update(log, predictor, settings)
    summary = result.summary
    AuditLog().record("log_read", user=getpass.getuser(), what="update",
                      rows=summary["development"]["patients"] + summary["holdout"]["champion"]["patients"])
    path = write_update(result, args.output)
    print(_sentence(result.summary, path, result.candidate is not None))
    return 0


def _sentence(summary: dict, path: Path, written: bool) -> str:
    development, held = summary["development"], summary["holdout"]
    tests = "; ".join(f"{t['larger']} against {t['smaller']}: p = {t['p_value']:.3g}" for t in summary["tests"])
    method = {"none": "keep the model as it is", "intercept": "recalibrate in the large (intercept)",
              "logistic": "recalibrate intercept and slope", "refit": "refit the model"}[summary["method"]]
    champion, candidate = held["champion"], held["candidate"]
    lines = [f"Chosen on {development['patients']} patients ({development['events']} events, "
             f"{development['from'][:10]} to {development['to'][:10]}): {method} ({tests}).",
             f"Held out, the {champion['patients']} latest patients ({champion['events']} events): O/E "
             f"{_ratio(champion)} with the model in use"
             + (f", {_ratio(candidate)} with the candidate; AUROC {_auroc(champion)} and {_auroc(candidate)}."
                if written else ".")]
    if (tiers := summary["thresholds"]) is not None:
        lines.append(_tiers_sentence(tiers))
    if written:
        lines.append(f"Candidate {summary['candidate']['version']} written to {path.parent} (update.json beside it). "
                     "It is not in use: nothing changes until it is promoted.")
    else:
        lines.append(f"No candidate written; {path} says why.")
    return "\n".join(lines)


def _tiers_sentence(tiers: dict) -> str:
    asked = f"High tier for a PPV of at least {tiers['target_ppv']:.0%} ({tiers['confidence']:.0%} confidence): "
    if tiers["threshold"] is None:
        return asked + "no threshold qualifies on these patients; the tiers stay as they are."
    return (asked + f"risk ≥ {tiers['threshold']:.1%} ({tiers['flagged']} of {tiers['patients']} held-out patients, "
            f"PPV {tiers['observed_ppv']:.0%} among them)"
            + ("; in the candidate." if tiers["applied"] else "; no candidate to carry it."))


def _ratio(figures: dict) -> str:
    oe = figures["observed_expected"]
    return f"{oe['value']:.2f} ({oe['low']:.2f}–{oe['high']:.2f})" if oe["value"] is not None else "—"


def _auroc(figures: dict) -> str:
    auroc = figures["auroc"]
    return f"{auroc['value']:.3f}" if auroc["value"] is not None else "—"


def _models(args: argparse.Namespace) -> int:
    from recovery_model.access import AuditLog
    from recovery_model.log.registry import ModelRegistry
    from recovery_model.log.store import PredictionLog
    from recovery_model.paths import checkpoint_folder

    registry = ModelRegistry(PredictionLog.open())
    if args.action == "list":
        print(_listing(registry))
        return 0
    if args.action == "card":
        return _card(registry, args.output)
    folder = Path()
    if args.action in ("promote", "shadow"):
        target = Path(args.target)
        folder = target if target.is_dir() else Path(registry.find(args.target).location)
    if args.action == "promote":
        changed = registry.promote(folder, checkpoint_folder(None), args.by, args.reason)
    elif args.action == "rollback":
        changed = registry.rollback(args.by, args.reason)
    elif args.action == "shadow":
        changed = registry.shadow(folder, args.by, args.reason)
    else:
        changed = registry.stop_shadow(args.by, args.reason)
    AuditLog().record(f"model_{args.action}", user=args.by, what=f"{changed.version} {changed.digest[:12]}")
    print(_changed(args.action, changed))
    return 0


def _card(registry, output: Path) -> int:
    """The model card of the model in use, its maintenance section filled from the registry, the monitor and the
    update that made it."""
    from recovery_model.evaluation.maintenance import maintenance_section
    from recovery_model.evaluation.summary import ModelSummary
    from recovery_model.log.registry import checkpoint_in_use

    summary = ModelSummary.read(checkpoint_in_use())
    card = (summary.model_card or f"# Model card: {summary.version}\n").rstrip()
    text = card + "\n\n" + maintenance_section(summary.metadata, summary.update, registry.history(),
                                                registry.log.current_alerts())
    output.write_text(text, encoding="utf-8")
    print(f"The model card of {summary.version} ({summary.digest[:12]}) with its maintenance written to {output}; "
          "the parts only your organisation can state are marked.")
    return 0


def _changed(action: str, model) -> str:
    named = f"{model.version} ({model.digest[:12]})"
    if action == "shadow":
        return (f"{named} now scores every patient beside the model in use, logged and never shown: the command line "
                "from its next run, the dashboard and each service worker within a minute. `recovery monitor` "
                "compares the two on the same patients.")
    if action == "unshadow":
        return f"{named} no longer scores in the shadow (it stays registered)."
    return (f"In use now: {named} from {model.location}. The command line uses it from its next run; the dashboard "
            "and each service worker within a minute, without a restart.")


def _listing(registry) -> str:
    frame = registry.listing()
    if not len(frame):
        return ("No model registered: every face uses $RECOVERY_CHECKPOINT, else the committed model. `recovery "
                "models promote DIR --by NAME --reason TEXT` puts another in use.")
    lines = []
    for row in frame.itertuples():
        change = ("" if row.changed_at is None else
                  f"; {row.action} {row.changed_at:%Y-%m-%d %H:%M} UTC by {row.changed_by}: {row.reason}")
        lines.append(f"{row.status:<10} {row.version:<32} {row.digest[:12]}  {row.location}{change}")
    return "\n".join(lines)


def add_commands(commands: argparse._SubParsersAction) -> None:
    update = commands.add_parser(
        "update", help="From the log's predictions of the model in use and their outcomes: keep it, recalibrate it "
        "or refit it (closed testing, Vergouwe et al. 2017), checked on the latest patients held out.")
    update.add_argument("--output", type=Path, required=True,
                        help="A folder for the candidate checkpoint and update.json.")
    update.add_argument("--since", default=None,
                        help="First day of predictions to learn from (inclusive, ISO date): after a calibration "
                        "alert, the day the monitor first raised it.")
    update.add_argument("--until", default=None, help="Last day (exclusive, ISO date).")
    update.add_argument("--high-ppv", type=fraction, default=None,
                        help="Also choose the high tier's threshold on the held-out outcomes so that at least this "
                        "share of the patients above it have the event, with 90 %% confidence (Learn then Test); "
                        "e.g. 0.2. Said plainly when no threshold qualifies.")
    update.add_argument("--seed", type=seed, default=0, help="For the refit and the bootstrap.")
    checkpoint_option(update)
    update.set_defaults(handler=_update)

    models = commands.add_parser("models", help="Which model every face uses: list the registered ones, promote one "
                                 "(signed, with a reason), roll back.")
    actions = models.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="Each registered model: status, version, digest, where, the latest change.")
    card = actions.add_parser("card", help="The model in use's model card with its maintenance: how it is monitored "
                              "and updated, its local validity, each change (HTI-1's source attributes).")
    card.add_argument("--output", type=Path, required=True, help="A Markdown file.")
    promote = actions.add_parser("promote", help="Put a model in use: every face follows within a minute.")
    promote.add_argument("target", help="A checkpoint's folder, or a registered model's version or digest.")
    rollback = actions.add_parser("rollback", help="Put back the model in use before the latest change.")
    shadow = actions.add_parser("shadow", help="Score every patient with a model beside the one in use, logged and "
                                "never shown, for the monitor to compare on the same patients.")
    shadow.add_argument("target", help="A checkpoint's folder, or a registered model's version or digest.")
    unshadow = actions.add_parser("unshadow", help="Stop the shadow model scoring.")
    for parser in (promote, rollback, shadow, unshadow):
        parser.add_argument("--by", required=True, help="Who makes the change (recorded).")
        parser.add_argument("--reason", required=True, help="Why (recorded).")
    models.set_defaults(handler=_models)
