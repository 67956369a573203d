"""seismometer opens `recovery export --format seismometer` from anywhere: `python -m benchmarks.seismometer_open`.

seismometer needs a virtual environment of its own (0.5 needs pandas < 3; the project's environment must not hold
it). From the repository:

    python3 -m venv ../sm-venv && ../sm-venv/bin/pip install "seismometer>=0.5,<0.6"

`--seismometer-python` is that environment's python (default $SEISMOMETER_PYTHON, else ../sm-venv/bin/python).
In a temporary folder the check simulates a small deployment (`recovery simulate-deployment`: predictions with their
outcomes, in a database of its own; the audit trail goes there too), runs the docs' two commands as written
(`recovery export --format seismometer --output seismometer/`, then `sm.run_startup(config_path="seismometer/")`
in the same folder), then `run_startup` from another folder, with a relative and with an absolute config path.
Each time seismometer must load every exported prediction and outcome, link outcomes to predictions and read
metadata.json, and put its outputs in the export's `outputs/`. Prints what seismometer saw; exits 1 if anything is
missing. Writes nothing in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RECOVERY = str(Path(sys.executable).parent / "recovery")
DEFAULT_PYTHON = os.environ.get("SEISMOMETER_PYTHON") or str(ROOT.parent / "sm-venv" / "bin" / "python")
MARK = "seismometer saw: "
# Run by seismometer's python: what run_startup loaded, through seismometer's own loaders and resolved paths.
PROBE = f"""
import json, sys
import seismometer as sm
sm.run_startup(config_path=sys.argv[1])
sg = sm.Seismogram()
config = sg.config
target = sg.dataframe[sg.target] if sg.target in sg.dataframe else None
print({MARK!r} + json.dumps({{
    "version": sm.__version__, "prediction_path": str(config.prediction_path),
    "predictions": len(sg.dataframe), "events": len(sg.dataloader.event_fn(config)),
    "linked": 0 if target is None else int(target.notna().sum()),
    "adverse": 0 if target is None else int((target == 1).sum()),
    "modelname": sg.modelname, "thresholds": sg.thresholds, "output_dir": str(config.output_dir)}}))
"""


def recovery(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([RECOVERY, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"recovery {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def open_with_seismometer(python: str, cwd: Path, config_path: str) -> tuple[dict | None, str]:
    """What seismometer loaded with `run_startup(config_path=...)` run in `cwd`; else None and its output."""
    done = subprocess.run([python, "-c", PROBE, config_path], cwd=cwd, capture_output=True, text=True)
    seen = [line[len(MARK):] for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not seen:
        return None, (done.stderr or done.stdout).strip()
    return json.loads(seen[-1]), ""


def problems(seen: dict, export: Path, expected: dict) -> list[str]:
    found = []
    if seen["predictions"] != expected["predictions"]:
        found.append(f"{seen['predictions']} predictions loaded, {expected['predictions']} exported")
    if seen["events"] != expected["events"]:
        found.append(f"{seen['events']} events loaded, {expected['events']} exported")
    if seen["linked"] == 0:
        found.append("no outcome linked to any prediction")
    if (seen["modelname"], seen["thresholds"]) != (expected["modelname"], expected["thresholds"]):
        found.append(f"metadata read as {seen['modelname']!r} {seen['thresholds']}, not metadata.json's")
    if Path(seen["output_dir"]) != export / "outputs":
        found.append(f"outputs go to {seen['output_dir']}, not {export / 'outputs'}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seismometer-python", default=DEFAULT_PYTHON,
                        help="The python of a virtual environment holding seismometer 0.5 (default %(default)s).")
    parser.add_argument("--months", type=int, default=2, help="Of simulated deployment (default %(default)s).")
    parser.add_argument("--patients-per-week", type=int, default=40, help="(default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (its path is printed).")
    args = parser.parse_args(argv)
    if not Path(args.seismometer_python).is_file():
        print(f"No python at {args.seismometer_python}: make seismometer's environment as this module's docstring "
              "says, or give --seismometer-python.", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="seismometer_open_"))
    try:
        return check(args, folder)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def check(args: argparse.Namespace, folder: Path) -> int:
    site, elsewhere = folder / "site", folder / "elsewhere" / "deeper"
    site.mkdir()
    elsewhere.mkdir(parents=True)
    env = {**os.environ, "RECOVERY_DATABASE_URL": f"sqlite:///{folder / 'simulation.sqlite'}",
           "RECOVERY_AUDIT_LOG": str(folder / "audit.jsonl")}
    recovery(["simulate-deployment", "--months", str(args.months), "--patients-per-week",
              str(args.patients_per_week), "--database", env["RECOVERY_DATABASE_URL"]], site, env)
    recovery(["export", "--format", "seismometer", "--output", "seismometer/"], site, env)
    export = (site / "seismometer").resolve()
    metadata = json.loads((export / "data" / "metadata.json").read_text(encoding="utf-8"))
    expected = {"predictions": len(pd.read_parquet(export / "data" / "predictions.parquet")),
                "events": len(pd.read_parquet(export / "data" / "events.parquet")), **metadata}
    print(f"exported {expected['predictions']} predictions and {expected['events']} outcomes to "
          f"site/seismometer/ (in {folder})")
    if not (expected["predictions"] and expected["events"]):
        print("FAIL: the simulated log gave nothing to export")
        return 1
    failed = 0
    for cwd, config_path, what in ((site, "seismometer/", "the docs' command, in site/"),
                                   (elsewhere, "../../site/seismometer/", "from elsewhere/deeper/"),
                                   (elsewhere, str(export / "config.yml"), "from elsewhere/deeper/")):
        seen, output = open_with_seismometer(args.seismometer_python, cwd, config_path)
        found = problems(seen, export, expected) if seen else [f"run_startup failed:\n{output[-2000:]}"]
        failed += bool(found)
        line = f"run_startup(config_path={config_path!r}) {what}"
        if seen:
            line += (f": seismometer {seen['version']} loaded {seen['predictions']} predictions and {seen['events']} "
                     f"events ({seen['linked']} predictions with an outcome in the window, {seen['adverse']} "
                     f"adverse), metadata {seen['modelname']!r}")
        print(line + (f" FAIL: {'; '.join(found)}" if found else ": ok"))
    print(f"{'FAIL' if failed else 'ok'}: seismometer opened the export in {3 - failed} of 3 runs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
