"""Benchmark: the labeled dataset's accuracy on a synthetic crowd before and after review.

The crowd of ``tests/app/review/synthetic.py`` (annotators of mixed accuracy, adversaries,
2 to 4 answers per item, 5% gold; every item's truth known) is answered through the engine in
an embedded (SQLite) installation; consensus is computed (Dawid–Skene), then a reviewer works
through the review queue through the API, setting each flagged item's true label. Prints one
summary line ``review-accuracy: key=value ...``: the dataset export's accuracy on the non-gold
items before and after review, the items flagged, and how many of them consensus had wrong
(review can raise the accuracy by those at most: the unflagged wrong items stay wrong).

``BENCH_SCALE=0.1`` for 200 items. Run with ``.venv/bin/python -m bench.review_accuracy``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import report
from bench.common import scaled


def run(n_tasks: int) -> str:
    from labelhive import create_app
    from labelhive import migrate
    from labelhive.extensions import db
    from labelhive.results import services as consensus
    from tests.app.review import synthetic

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{Path(folder) / 'bench.db'}",
                "SECRET_KEY": "bench",
                "RATELIMIT_ENABLED": False,
                # the bench asks for consensus itself: no job per completed task
                "CONSENSUS_DEBOUNCE_SECONDS": 0,
            }
        )
        with app.app_context():
            migrate.upgrade(db.engine)
            started = time.perf_counter()
            crowd = synthetic.build(n_tasks=n_tasks, n_annotators=40, n_adversaries=4)
            fill_s = time.perf_counter() - started
            consensus.recompute(crowd.project_id)
            client = app.test_client()
            before_rows = synthetic.dataset(client, crowd)
            before = synthetic.accuracy(before_rows, crowd)
            started = time.perf_counter()
            decided = synthetic.review_all(client, crowd)
            review_s = time.perf_counter() - started
            after = synthetic.accuracy(synthetic.dataset(client, crowd), crowd)
            wrong = sum(before_rows[t]["label"] != crowd.truth[t] for t in decided)
            db.session.remove()
            db.engine.dispose()
    return report(
        "review-accuracy",
        {
            "items": len(crowd.truth),
            "gold": len(crowd.gold),
            "flagged": len(decided),
            "flagged_wrong": wrong,
            "accuracy_before": round(before, 4),
            "accuracy_after": round(after, 4),
            "fill_s": fill_s,
            "review_s": review_s,
        },
    )


if __name__ == "__main__":
    run(scaled(2_000, 120))
