"""Asking for a consensus recomputation when tasks complete: debounced, run as a job."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event
from sqlalchemy import select

from labelhive import config
from labelhive import starters
from labelhive.consensus import adaptive
from labelhive.consensus.models import Consensus
from labelhive.consensus.models import ConsensusRun
from labelhive.extensions import db
from labelhive.jobs.models import JobRecord
from labelhive.projects.models import Project
from labelhive.projects.services import ProjectError
from labelhive.projects.services import apply_settings
from labelhive.results import services
from tests.common import crowd as crowds
from tests.common import engine
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
        later = starters.request_recompute(project_id, now=time.time() + 7200)
        assert later is not None and _wait(later).status == "finished"
        app.config["CONSENSUS_DEBOUNCE_SECONDS"] = 0
        assert starters.request_recompute(project_id) is None
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
        ({"adaptive_threshold": 0}, "adaptive_threshold must be a number above 0"),
        ({"adaptive_max_answers": 2, "default_n_answers": 3}, r"adaptive_max_answers \(2\)"),
        ({"adaptive_max_answers": 0}, "adaptive_max_answers must be between"),
        ({"adaptive_redundancy": "yes"}, "adaptive_redundancy must be true or false"),
    ):
        with pytest.raises(ProjectError, match=message):
            apply_settings(project, values)

    # off, the cap is not checked; the first setting that turns it on is
    apply_settings(project, {"adaptive_redundancy": False, "default_n_answers": 9})
    with pytest.raises(ProjectError, match="must be at least the redundancy"):
        apply_settings(project, {"adaptive_redundancy": True})


def test_debounce_comes_from_the_environment(sqlite_url: str) -> None:
    env = {"LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS": "45"}
    assert config.from_environ(env)["CONSENSUS_DEBOUNCE_SECONDS"] == 45
    assert config.from_environ({})["CONSENSUS_DEBOUNCE_SECONDS"] is None
    for bad in ("-1", "soon"):
        with pytest.raises(RuntimeError, match="LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS"):
            config.from_environ({"LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS": bad})
    app = make_app(sqlite_url)
    with app.app_context():
        # unset: off under TESTING, 30 s otherwise
        assert services.debounce_seconds() == 0
        app.config["TESTING"] = False
        assert services.debounce_seconds() == services.DEFAULT_DEBOUNCE_SECONDS == 30
        app.config["CONSENSUS_DEBOUNCE_SECONDS"] = 45
        assert services.debounce_seconds() == 45


def test_gold_weighted_consensus_on_the_engine_filled_crowd(app) -> None:
    crowd = crowds.fill(n_tasks=45, n_gold=6)
    project = db.session.get(Project, crowd.project_id)
    accuracy = {}
    for method in ("majority_vote", "dawid_skene", "gold_weighted"):
        apply_settings(project, {"consensus_method": method})
        db.session.commit()
        assert services.recompute(crowd.project_id).method == method
        db.session.commit()
        rows = db.session.scalars(select(Consensus).where(Consensus.gold.is_(False))).all()
        assert rows and all(r.method == method for r in rows if r.n_answers)
        accuracy[method] = sum(r.label == crowd.truth[r.task_id] for r in rows) / len(rows)
    print(f"\nengine-filled crowd (45 items, 6 annotators, one always 'dog'): {accuracy}")
    assert accuracy["gold_weighted"] >= accuracy["majority_vote"]


def test_a_window_is_asked_for_once_per_process_and_a_lost_race_is_no_error(any_url: str) -> None:
    app = make_app(any_url, CONSENSUS_DEBOUNCE_SECONDS=3600)
    statements: list[str] = []
    errors: list[BaseException] = []
    with app.app_context():
        project_id = make_project(make_user("alice"), n_tasks=1, n_answers=1).id
        db.session.commit()
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        event.listen(db.engine, "handle_error", lambda ctx: errors.append(ctx.original_exception))
        now = time.time()
        job_id = starters.request_recompute(project_id, now=now)
        assert job_id is not None
        # the same window again in this process: no statement at all
        statements.clear()
        assert starters.request_recompute(project_id, now=now + 1) is None
        assert statements == []
        assert _wait(job_id).status == "finished"
        db.session.remove()
    # another process (another app) asks for the same window: refused by the database
    # without an error (INSERT ... ON CONFLICT DO NOTHING), and no second job
    other = make_app(any_url, CONSENSUS_DEBOUNCE_SECONDS=3600)
    with other.app_context():
        event.listen(db.engine, "handle_error", lambda ctx: errors.append(ctx.original_exception))
        assert starters.request_recompute(project_id, now=now) is None
        records = db.session.scalars(select(JobRecord.id).where(JobRecord.kind == "consensus"))
        assert records.all() == [job_id]
        db.session.remove()
        db.engine.dispose()
    assert errors == []
    with app.app_context():
        db.engine.dispose()
