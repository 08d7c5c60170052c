"""Asking for a consensus recomputation when tasks complete: debounced, run as a job."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from labelhive.extensions import db
from labelhive.jobs.models import JobRecord
from labelhive.projects.services import ProjectError
from labelhive.projects.services import apply_settings
from labelhive.results import adaptive
from labelhive.results import services
from labelhive.results.models import ConsensusRun
from labelhive.tasks import engine
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


def _wait(job_id: str) -> JobRecord:
    deadline = time.monotonic() + 60
    while True:
        db.session.commit()
        record = db.session.get(JobRecord, job_id)
        if record.status in ("finished", "failed") or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


def test_a_completed_task_starts_one_recomputation_per_window(sqlite_url: str) -> None:
    app = make_app(sqlite_url, CONSENSUS_DEBOUNCE_SECONDS=3600)
    with app.app_context():
        alice = make_user("alice")
        project = make_project(alice, n_tasks=2, n_answers=1)
        project_id = project.id
        started = []
        for _ in range(2):
            claim = engine.claim(db.engine, project_id, alice.id)
            submitted = engine.submit(db.engine, claim.task["id"], alice.id, "cat")
            assert submitted.completed_task
            assert adaptive.after_submit(db.engine, submitted) is False
            started = db.session.scalars(
                select(JobRecord.id).where(JobRecord.kind == "consensus")
            ).all()
        # two completions in one window: one job
        assert len(started) == 1 and started[0].startswith(f"consensus-{project_id}-w")
        record = _wait(started[0])
        assert record.status == "finished", record.error
        run = db.session.scalar(select(ConsensusRun))
        assert run is not None and run.project_id == project_id
        # the next window starts another; a window of 0 turns it off
        later = services.request_recompute(project_id, now=time.time() + 7200)
        assert later is not None and _wait(later).status == "finished"
        app.config["CONSENSUS_DEBOUNCE_SECONDS"] = 0
        assert services.request_recompute(project_id) is None
        db.session.remove()
        db.engine.dispose()


def test_consensus_and_adaptive_settings_are_validated(app) -> None:
    project = make_project(make_user("alice"))
    apply_settings(
        project,
        {
            "consensus_method": "majority_vote",
            "consensus_use_gold": False,
            "adaptive_redundancy": True,
            "adaptive_threshold": 0.75,
            "adaptive_max_answers": "7",
        },
    )
    assert (project.consensus_method, project.adaptive_max_answers) == ("majority_vote", 7)
    for values, message in (
        ({"consensus_method": "glad"}, "consensus_method must be one of"),
        ({"adaptive_threshold": 1.5}, "adaptive_threshold must be"),
        ({"adaptive_max_answers": 0}, "adaptive_max_answers must be between"),
        ({"adaptive_redundancy": "yes"}, "adaptive_redundancy must be true or false"),
    ):
        with pytest.raises(ProjectError, match=message):
            apply_settings(project, values)
