"""What every benchmark shares: the summary line, the results file, scale, child processes.

Each benchmark prints ONE line ``name: key=value ...`` and appends the same figures as a JSON
line (with the git commit, whether the tree had uncommitted changes, the time and the host's
core count) to ``bench/results/bench.jsonl`` (``BENCH_RESULTS`` overrides the path). Results
files are not committed (``bench/results/.gitignore``): they belong to the machine that
measured them.

Benchmarks print figures and compare with a ceiling measured in the same run; they never assert
timings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "bench.jsonl"


def scale() -> float:
    """``BENCH_SCALE`` (default 1): multiplies row counts and durations (0.1 for a quick run)."""
    try:
        return max(float(os.environ.get("BENCH_SCALE", "1")), 0.001)
    except ValueError:
        return 1.0


def scaled(value: float, minimum: int = 1) -> int:
    return max(int(value * scale()), minimum)


def git_commit() -> tuple[str, bool]:
    """The commit checked out, and whether the working tree differs from it.

    ``BENCH_COMMIT`` overrides both (a run from an exported tree, which is no git checkout).
    """
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"], False
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True
    return commit, dirty


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def report(name: str, figures: dict[str, Any]) -> str:
    """Print the summary line and append the JSON line; return the summary line."""
    line = f"{name}: " + " ".join(f"{k}={_format(v)}" for k, v in figures.items())
    print(line, flush=True)
    commit, dirty = git_commit()
    record = {
        "bench": name,
        "commit": commit,
        "dirty": dirty,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "scale": scale(),
        **figures,
    }
    path = Path(os.environ.get("BENCH_RESULTS") or RESULTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    return line


def run_measured(
    args: list[str], env: dict[str, str] | None = None, stdout: Any = subprocess.DEVNULL
) -> tuple[float, float]:
    """Run a child process to completion: its wall seconds and its own peak RSS in MiB.

    ``os.wait4`` gives the rusage of that one child (``RUSAGE_CHILDREN`` would mix in every
    child this process ever waited for).
    """
    import time

    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=stdout, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{' '.join(args[:4])} ... exited {proc.returncode}: {err[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss / 1024


def labelhive_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "labelhive.cli", *args]


def self_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
