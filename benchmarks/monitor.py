"""The monitor at scale: `python -m benchmarks.monitor [--rows 1000000 10000000] [--before COMMIT]`.

`recovery monitor --period week` over logs of a million and ten million predictions (26 weeks on 4 wards, every
prediction with its outcome; `prediction_log.fill_log`), on SQLite and on PostgreSQL ($RECOVERY_TEST_POSTGRES,
default the local socket's `postgres`; left out without a server): the whole command, a fresh process, its wall
time and peak resident memory (the child's own, from `wait4`). With `--before`, the same command of that commit
(checked out in a temporary git worktree, run with the same interpreter) takes turns with this tree's on the same
logs, and the two reports are compared: every number within 1e-9, everything else equal. A log kept from an
earlier run is first migrated to this tree's version; a commit that knows only an older version reads a copy of
the log migrated down to it (kept beside the log with `--keep`). The commit before held the whole log in memory
(1.9 GB at a million rows), so it runs on logs up to `--before-max-rows` only.

Filling a log takes about 80 s per million rows; `--keep DIR` keeps the SQLite files and names the PostgreSQL
databases after the row count, so that a second run reuses them. Results: benchmarks/results/monitor.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.prediction_log import ADMIN_URL, fill_log
from recovery_model import Predictor
from recovery_model.log.database import upgrade
from recovery_model.log.store import PredictionLog

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CLI = "import sys; from recovery_model.cli import main; sys.exit(main())"  # the tree's own package, by PYTHONPATH
TOLERANCE = 1e-9


def sqlite_log(folder: Path, rows: int) -> str:
    path = folder / f"monitor_{rows}.sqlite"
    url = f"sqlite:///{path}"
    if path.exists():
        upgrade(url)
    else:
        _fill(url, rows)
    return url


def postgres_log(rows: int) -> str | None:
    """A database `recovery_monitor_<rows>` on the server, filled once; None without a server."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.exc import OperationalError

    name = f"recovery_monitor_{rows}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        return None
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    if exists:
        upgrade(url)
    else:
        _fill(url, rows)
    return url


def _fill(url: str, rows: int) -> None:
    """Filled by a process of its own: Linux passes a parent's peak memory on to the children it starts (kept
    across `exec`), so a benchmark that had filled ten million rows itself reported 16 GB for every monitor run."""
    filler = multiprocessing.get_context("spawn").Process(target=_fill_here, args=(url, rows))
    filler.start()
    filler.join()
    if filler.exitcode:
        raise SystemExit(f"filling {url} failed (exit code {filler.exitcode})")


def _fill_here(url: str, rows: int) -> None:
    upgrade(url)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        fill_log(PredictionLog.open(url), Predictor.load(), rows, Path(scratch))
    print(f"filled {url} with {rows:,} predictions in {time.perf_counter() - started:.0f} s", flush=True)


def tree_head(tree: Path) -> str:
    """The newest migration the package in `tree` knows."""
    return subprocess.run([sys.executable, "-c", "from recovery_model.log.database import HEAD; print(HEAD)"],
                          cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True, capture_output=True,
                          text=True).stdout.strip()


def at_revision(url: str, revision: str, folder: Path) -> str:
    """A copy of the log at `url` migrated down to `revision` (made once): what an older tree reads, since it
    refuses a log newer than it knows. The log itself when it is at that revision already."""
    from alembic import command
    from sqlalchemy import create_engine, make_url, text

    from recovery_model.log.database import HEAD, _alembic_config, database_engine

    if revision == HEAD:
        return url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        copy = folder / f"{Path(str(parsed.database)).stem}_{revision}.sqlite"
        if copy.exists():
            return f"sqlite:///{copy}"
        shutil.copyfile(str(parsed.database), copy)
        copied = f"sqlite:///{copy}"
    else:
        database_engine(url).dispose()  # a template has no other session
        name = f"{parsed.database}_{revision}"
        copied = parsed.set(database=name).render_as_string(hide_password=False)
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            if connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                return copied
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))
    with database_engine(copied).begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    return copied


def monitor_run(tree: Path, url: str, output: Path) -> dict[str, float]:
    """`recovery monitor --period week` of the package in `tree`, a fresh process: wall seconds and peak MB."""
    env = {**os.environ, "RECOVERY_DATABASE_URL": url, "PYTHONPATH": str(tree), "RECOVERY_AUDIT_LOG": os.devnull}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CLI, "monitor", "--period", "week", "--output", str(output)],
                             cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"recovery monitor failed in {tree}: {child.stderr.read().decode() if child.stderr else ''}")
    return {"s": seconds, "peak_mb": usage.ru_maxrss / 1024}  # Linux gives kilobytes


def differences(before: Any, after: Any, path: str = "") -> tuple[list[str], float]:
    """Where two reports differ (numbers beyond `TOLERANCE`, anything else unequal) and the largest numeric gap."""
    if isinstance(before, dict) and isinstance(after, dict):
        if set(before) != set(after):
            return [f"{path}: keys {sorted(set(before) ^ set(after))}"], 0.0
        found = [differences(before[k], after[k], f"{path}.{k}") for k in before if k != "generated_at"]
    elif isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} against {len(after)} entries"], 0.0
        found = [differences(b, a, f"{path}[{i}]") for i, (b, a) in enumerate(zip(before, after, strict=True))]
    elif isinstance(before, float) and isinstance(after, float | int):
        gap = abs(before - after) if not (math.isnan(before) and math.isnan(after)) else 0.0
        return ([f"{path}: {before} against {after}"] if gap > TOLERANCE else []), gap
    else:
        return ([] if before == after else [f"{path}: {before!r} against {after!r}"]), 0.0
    return [d for listed, _ in found for d in listed], max((gap for _, gap in found), default=0.0)


def measure(urls: dict[str, str], trees: dict[str, Path], repeats: int, folder: Path) -> dict[str, Any]:
    times: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(repeats):  # taking turns: a slower minute of the machine falls on both
        for name, tree in trees.items():
            times[name].append(monitor_run(tree, urls[name], folder / f"{name}.json"))
    out: dict[str, Any] = {name: {"median_s": statistics.median(r["s"] for r in runs),
                                  "all_s": [round(r["s"], 2) for r in runs],
                                  "peak_mb": max(r["peak_mb"] for r in runs)} for name, runs in times.items()}
    if "before" in trees:
        found, gap = differences(json.loads((folder / "before.json").read_text()),
                                 json.loads((folder / "after.json").read_text()))
        out["reports_equal"] = not found
        out["largest_numeric_difference"] = gap
        out["differences"] = found[:20]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--before", help="a commit to run beside this tree, on the same logs")
    parser.add_argument("--before-max-rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--keep", type=Path, help="a folder for the SQLite logs, reused by the next run")
    args = parser.parse_args()
    results: dict[str, Any] = {"repeats": args.repeats, "before": args.before, "runs": {}}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        trees = {"after": ROOT}
        if args.before:
            trees = {"before": Path(scratch) / "before", **trees}
            subprocess.run(["git", "worktree", "add", "--detach", str(trees["before"]), args.before], cwd=ROOT,
                           check=True, capture_output=True)
        try:
            for rows in args.rows:
                for database in args.databases:
                    url = sqlite_log(folder, rows) if database == "sqlite" else postgres_log(rows)
                    if url is None:
                        results["runs"][f"{database} {rows}"] = f"no server at {ADMIN_URL}"
                        continue
                    compared = trees if rows <= args.before_max_rows else {"after": ROOT}
                    urls = {name: url if name == "after" else at_revision(url, tree_head(tree), folder)
                            for name, tree in compared.items()}
                    results["runs"][f"{database} {rows}"] = measure(urls, compared, args.repeats, Path(scratch))
                    print(database, rows, json.dumps(results["runs"][f"{database} {rows}"]), flush=True)
        finally:
            if args.before:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees["before"])], cwd=ROOT, check=False)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "monitor.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "monitor.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    lines = ["| log | before: median s (peak MB) | after: median s (peak MB) | reports equal (largest gap) |",
             "|---|---|---|---|"]
    for name, run in results["runs"].items():
        if isinstance(run, str):
            lines.append(f"| {name} | {run} | | |")
            continue
        before = f"{run['before']['median_s']:.2f} ({run['before']['peak_mb']:.0f})" if "before" in run else ""
        equal = f"{run['reports_equal']} ({run['largest_numeric_difference']:.1e})" if "before" in run else ""
        lines.append(f"| {name} | {before} | {run['after']['median_s']:.2f} ({run['after']['peak_mb']:.0f}) | "
                     f"{equal} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
