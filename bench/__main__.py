"""``make bench``: every benchmark in turn, one summary line each (see ``bench/README.md``).

``.venv/bin/python -m bench [NAME ...]`` runs the named ones (default: all). ``BENCH_SCALE``
scales row counts and durations (``BENCH_SCALE=0.1`` for a quick look). A benchmark that
fails prints ``NAME: failed ...`` and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import subprocess
import sys
import time

# name → module and arguments; each runs in its own process (clean peak RSS, no shared state)
BENCHMARKS: dict[str, list[str]] = {
    "annotate": ["bench.annotate", "--db", "postgresql"],
    "annotate-sqlite": ["bench.annotate", "--db", "sqlite"],
    "annotate-page": ["bench.annotate", "--db", "postgresql", "--surface", "page"],
    "import": ["bench.imports"],
    "export": ["bench.exports"],
    "consensus": ["bench.consensus"],
    "export-wait": ["bench.export_wait"],
    "review": ["bench.review_browse"],
    "review-accuracy": ["bench.review_accuracy"],
    "proxy": ["bench.s3_proxy"],
    "operator": ["bench.operator_reconcile"],
    # 10k → 10M tasks in one project: not in the default run (about 15 minutes at scale 1)
    "scale": ["bench.scale"],
}
DEFAULT = [name for name in BENCHMARKS if name != "scale"]


def main(argv: list[str]) -> int:
    names = argv or DEFAULT
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = False
    started = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", *BENCHMARKS[name]], check=False)
        if proc.returncode != 0:
            failed = True
            print(f"{name}: failed exit={proc.returncode}", flush=True)
        print(f"# {name} took {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"# all took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
