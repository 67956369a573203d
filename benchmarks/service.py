"""`recovery serve`'s targets: `python -m benchmarks.service` (real uvicorn on loopback, real JWTs).

- start to the first discovery answer;
- 200 sequential patient-view calls with full prefetch, model warm: p50 and p95, beside `Predictor.assess` on the
  same rows in process (the difference is our HTTP, authentication, FHIR reading and logging);
- 16 concurrent clients × 20 calls, with 2 workers and with 1: errors, p95, calls/s; 64 clients × 5 calls on 2
  workers: errors (a peak, not a latency target);
- `--database URL`: the log on that database (PostgreSQL, say) instead of a SQLite file per server;
- the server's memory over 10,000 calls (`--memory-calls`), read after each tenth of them;
- `--shadow-only`: a call's p50 without and with a shadow model scoring beside the model in use.
Writes benchmarks/results/service.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from recovery_model import Predictor
from recovery_model.log.database import upgrade
from recovery_model.log.registry import ModelRegistry
from recovery_model.log.store import PredictionLog

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SERVICE = "/cds-services/recovery-risk"
sys.path.insert(0, str(ROOT))
from tests.service.conftest import ISSUER, Signer, hook_call, prefetch_for, sample_bundle  # noqa: E402


class Server:
    """`recovery serve` in a process of its own, with an issuers file trusting `signer`'s keys."""

    def __init__(self, folder: Path, signer: Signer, workers: int, shadow: Path | None = None,
                 database: str | None = None) -> None:
        (folder / "jwks.json").write_text(json.dumps(signer.jwks()))
        (folder / "issuers.toml").write_text(f'[[issuer]]\niss = "{ISSUER}"\njwks = "jwks.json"\n')
        name = f"service_{workers}{'_shadow' if shadow else ''}.sqlite"
        url = database or f"sqlite:///{folder / name}"
        upgrade(url)
        if shadow is not None:
            ModelRegistry(PredictionLog.open(url)).shadow(shadow, "benchmark", "the shadow's cost on a call")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "recovery"), "serve", "--port", str(self.port), "--workers",
             str(workers), "--issuers", str(folder / "issuers.toml")],
            env={**os.environ, "RECOVERY_DATABASE_URL": url}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                if httpx.get(self.base + "/cds-services", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        self.start_s = time.perf_counter() - started

    def rss_mb(self) -> float:
        """The resident memory of the server and its workers."""
        pids = [self.process.pid] + [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()]
        total = 0
        for pid in pids:
            status = Path(f"/proc/{pid}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return total / 1024

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def calls(bundle: dict, patients: list[str]) -> list[dict]:
    return [hook_call(p, prefetch_for(bundle, p)) for p in patients]


def timed_calls(server: Server, signer: Signer, bodies: list[dict], count: int) -> tuple[list[float], int]:
    times, errors = [], 0
    with httpx.Client(base_url=server.base, timeout=30) as client:
        for i in range(count):
            headers = {"Authorization": f"Bearer {signer.token(server.base + SERVICE)}"}
            started = time.perf_counter()
            answer = client.post(SERVICE, json=bodies[i % len(bodies)], headers=headers)
            times.append(time.perf_counter() - started)
            errors += answer.status_code != 200
    return times, errors


def concurrent(server: Server, signer: Signer, bodies: list[dict], clients: int, each: int) -> dict:
    results: list[tuple[list[float], int]] = []
    lock = threading.Lock()

    def run() -> None:
        outcome = timed_calls(server, signer, bodies, each)
        with lock:
            results.append(outcome)

    started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    times = [t for r in results for t in r[0]]
    return {"clients": clients, "calls_each": each, "errors": sum(r[1] for r in results),
            "p50_ms": 1000 * statistics.median(times), "p95_ms": 1000 * float(np.percentile(times, 95)),
            "calls_per_s": len(times) / seconds}


def in_process(bundle: dict, patients: list[str], repeats: int) -> float:
    """`Predictor.assess` on the same rows (read from the same record once), p50 in ms."""
    from recovery_model.readers.fhir.reader import read_fhir

    predictor = Predictor.load()
    predictor.warm_up()
    frame = read_fhir(json.dumps(bundle).encode(), predictor.schema).frame
    rows = [frame.iloc[[i]] for i in range(len(patients))]
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        predictor.assess(rows[i % len(rows)])
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def shadow_cost(signer: Signer, bodies: list[dict], folder: Path, count: int) -> dict:
    """Sequential calls' p50 without a shadow model and with one (the committed model, recalibrated), one worker
    each, taking turns in blocks of 20 so that a slower minute falls on both."""
    candidate = folder / "shadow_model"
    model = Predictor.load()
    model.recalibrated(0.5, 1.0, model.model.oof_risk_, model.model.oof_event_,
                       {"method": "intercept", "version": "benchmark+shadow"}).save(candidate)
    servers = {"without": Server(folder, signer, 1), "with_shadow": Server(folder, signer, 1, shadow=candidate)}
    times: dict[str, list[float]] = {name: [] for name in servers}
    try:
        for server in servers.values():
            timed_calls(server, signer, bodies, 20)  # warm
        for _ in range(count // 20):
            for name, server in servers.items():
                times[name] += timed_calls(server, signer, bodies, 20)[0]
    finally:
        for server in servers.values():
            server.close()
    p50 = {name: 1000 * statistics.median(values) for name, values in times.items()}
    return {"calls_each": len(times["without"]), "p50_ms": p50, "p50_added_ms": p50["with_shadow"] - p50["without"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-memory", action="store_true", help="Leave out the calls of the memory check.")
    parser.add_argument("--memory-calls", type=int, default=10_000, help="The memory check's calls (8 clients).")
    parser.add_argument("--shadow-only", action="store_true", help="Only the shadow model's cost on a call.")
    parser.add_argument("--database", default=None,
                        help="The log's database URL for every server (default: a SQLite file per server).")
    args = parser.parse_args(argv)
    signer = Signer()
    bundle = sample_bundle(20)
    patients = [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    bodies = calls(bundle, patients)
    report: dict = {}
    if args.shadow_only:
        with tempfile.TemporaryDirectory() as scratch:
            report["shadow"] = shadow_cost(signer, bodies, Path(scratch), 60 if args.quick else 200)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "service_shadow.json").write_text(json.dumps(report, indent=1))
        print(json.dumps(report, indent=1))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        server = Server(Path(scratch), signer, workers=1, database=args.database)
        report["database"] = "sqlite" if args.database is None else args.database.split(":", 1)[0]
        try:
            report["start_to_discovery_s"] = server.start_s
            timed_calls(server, signer, bodies, 20)  # warm
            times, errors = timed_calls(server, signer, bodies, 50 if args.quick else 200)
            report["sequential"] = {"calls": len(times), "errors": errors, "p50_ms": 1000 * statistics.median(times),
                                    "p95_ms": 1000 * float(np.percentile(times, 95))}
            report["sequential"]["assess_in_process_p50_ms"] = in_process(bundle, patients, 200)
            report["concurrent_1_worker"] = concurrent(server, signer, bodies, 16, 5 if args.quick else 20)
            if not args.no_memory:
                before = server.rss_mb()
                total = 1_000 if args.quick else args.memory_calls
                tenths = []
                for _ in range(10):
                    concurrent(server, signer, bodies, 8, total // 80)
                    tenths.append(server.rss_mb())
                report["memory"] = {"calls": total, "rss_after_warm_up_mb": before, "rss_after_each_tenth_mb": tenths,
                                    "rss_after_mb": tenths[-1]}
        finally:
            server.close()
        server = Server(Path(scratch), signer, workers=2, database=args.database)
        try:
            report["start_to_discovery_2_workers_s"] = server.start_s
            timed_calls(server, signer, bodies, 20)
            report["concurrent_2_workers"] = concurrent(server, signer, bodies, 16, 5 if args.quick else 20)
            report["peak_64_clients_2_workers"] = concurrent(server, signer, bodies, 64, 5)
        finally:
            server.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = ("service_no_memory" if args.no_memory else "service") + ("" if args.database is None else "_database")
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
