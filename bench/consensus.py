"""Benchmark: consensus (majority vote, Dawid–Skene) over 100,000 and 1,000,000 answers.

Synthetic answers: tasks with a hidden true label, answered by annotators of mixed accuracy,
three answers per task. Each size runs in a child process (its own peak RSS): crowd-kit's
``MajorityVote`` and ``DawidSkene`` timed alone, then the whole
:func:`labelhive.results.consensus.aggregate` (which runs both and builds the per-item and
per-annotator evidence). Prints one summary line ``consensus: key=value ...``. Run with
``.venv/bin/python -m bench.consensus``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

from bench.common import report
from bench.common import scaled

OPTIONS = ["cat", "dog", "bird", "fish"]
ANNOTATORS = 200
REDUNDANCY = 3


def answers(n: int, seed: int = 7) -> list[tuple[int, int, str]]:
    rng = random.Random(seed)
    accuracy = [rng.uniform(0.5, 0.95) for _ in range(ANNOTATORS)]
    rows = []
    for task in range(-(-n // REDUNDANCY)):
        truth = OPTIONS[task % len(OPTIONS)]
        for worker in rng.sample(range(ANNOTATORS), REDUNDANCY):
            label = truth if rng.random() < accuracy[worker] else rng.choice(OPTIONS)
            rows.append((task, worker, label))
    return rows[:n]


def child(n: int) -> None:
    """Run in a child process: print the timings as JSON (peak RSS comes from the parent)."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene
    from crowdkit.aggregation import MajorityVote

    from labelhive.results import consensus

    rows = answers(n)
    data = pd.DataFrame(rows, columns=["task", "worker", "label"])
    started = time.perf_counter()
    MajorityVote().fit(data)
    mv = time.perf_counter() - started
    started = time.perf_counter()
    DawidSkene(n_iter=consensus.DS_MAX_ITERATIONS).fit(data)
    ds = time.perf_counter() - started
    del data
    started = time.perf_counter()
    consensus.aggregate(rows, options=OPTIONS, method=consensus.DAWID_SKENE)
    full = time.perf_counter() - started
    print(json.dumps({"mv_s": mv, "ds_s": ds, "aggregate_s": full}))


def run(sizes: list[int]) -> str:
    figures: dict[str, object] = {}
    for n in sizes:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.consensus", "--child", str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        out = proc.stdout.read() if proc.stdout else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"consensus child for {n} answers failed: {out[-2000:]}")
        timings = json.loads(out.strip().splitlines()[-1])
        tag = f"{n // 1000}k"
        figures[f"mv_{tag}_s"] = timings["mv_s"]
        figures[f"ds_{tag}_s"] = timings["ds_s"]
        figures[f"aggregate_{tag}_s"] = timings["aggregate_s"]
        figures[f"rss_{tag}_mib"] = usage.ru_maxrss / 1024
    return report("consensus", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[scaled(100_000, 1000), scaled(1_000_000, 10_000)],
    )
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
    else:
        run(args.sizes)


if __name__ == "__main__":
    main()
