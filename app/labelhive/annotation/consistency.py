"""A whole-database consistency check of the claim/submit bookkeeping.

The engine keeps counters on the task row (``n_done``, ``n_reserved``) under the row lock; this
module recounts everything independently and reports every place where the counters, states,
leases or results disagree with the rows they summarise. It is read-only, and used by
``labelhive check`` (operators), the fault tests (``tests/reliability``) and ``bench/soak.py``.

What is checked, for every task:

- ``n_done`` equals the number of stored answers, and ``n_reserved`` the number of leases;
- a task that is not gold holds at most ``n_answers`` answers (no over-collection), is
  ``completed`` exactly when its answers reach ``n_answers``, and a completed one has exactly
  one current result whose answer ids are the task's answers; gold tasks stay ``ongoing``;
- no lease on a completed task, and no lease expired longer than ``lease_grace`` ago (the
  scheduler's sweep and every claim delete expired leases, so such a lease is an orphan);
- every answer belongs to its task's project.

Lowering a project's redundancy below the answers a task already has is reported as
over-collection too: the check cannot tell it from a lost race, so it says what it sees.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import FromClause
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select

from labelhive.answers.models import Answer
from labelhive.consensus.models import Result
from labelhive.db import utcnow
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task

T = Task.__table__
A = Answer.__table__
L = Lease.__table__
R = Result.__table__

# the scheduler sweeps every few seconds and claims sweep their project: 10 minutes is generous
DEFAULT_LEASE_GRACE = dt.timedelta(minutes=10)
# problems listed per kind; the totals are always exact
MAX_LISTED = 20


@dataclasses.dataclass
class Report:
    """What :func:`check` found: ``problems`` (sentences) and the totals it counted."""

    tasks: int = 0
    answers: int = 0
    leases: int = 0
    results: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    # problems beyond MAX_LISTED of one kind are counted here, not listed
    unlisted: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line for a terminal or a log."""
        totals = (
            f"{self.tasks} tasks, {self.answers} answers, {self.leases} leases,"
            f" {self.results} results"
        )
        if self.ok:
            return f"Consistent: {totals}."
        count = len(self.problems) + self.unlisted
        return f"Inconsistent: {count} problem(s) in {totals}."


def check(
    engine: Engine,
    *,
    project_id: int | None = None,
    lease_grace: dt.timedelta = DEFAULT_LEASE_GRACE,
    now: dt.datetime | None = None,
) -> Report:
    """Recount answers, leases and results and compare them with the tasks' counters.

    :param engine: the database (read in one transaction, so the counts agree with each other
        on PostgreSQL's snapshot; stop writers first for an exact answer on a busy database).
    :param project_id: check one project only; ``None``: the whole database.
    :param lease_grace: how long past its expiry a lease may live before it is an orphan.
    :param now: the clock (naive UTC), for tests.
    :return: a :class:`Report`; ``report.ok`` is ``True`` when nothing disagrees.
    """
    now = now or utcnow()
    report = Report()
    with engine.connect() as conn, conn.begin():
        scoped = _scoped(project_id)
        report.tasks = _count(conn, T, scoped)
        report.answers = _count(conn, A, scoped)
        report.leases = _count(conn, L, scoped)
        report.results = _count(conn, R, scoped)
        _check_tasks(conn, report, scoped, now - lease_grace)
        _check_answers(conn, report, scoped)
        _check_results(conn, report, scoped)
    return report


def _scoped(project_id: int | None):  # noqa: ANN202 - a small closure over the filter
    def conditions(table) -> list:  # noqa: ANN001
        return [] if project_id is None else [table.c.project_id == project_id]

    return conditions


def _add(report: Report, sentences: list[str], total: int) -> None:
    report.problems.extend(sentences[:MAX_LISTED])
    report.unlisted += max(total - MAX_LISTED, 0)


def _count(conn: Connection, table: FromClause, scoped: Callable[[FromClause], list]) -> int:
    return conn.execute(select(func.count()).select_from(table).where(*scoped(table))).scalar_one()


def _check_tasks(conn, report: Report, scoped, orphan_before: dt.datetime) -> None:  # noqa: ANN001
    answers = select(A.c.task_id, func.count().label("n")).group_by(A.c.task_id).subquery("answers")
    leases = (
        select(L.c.task_id, func.count().label("n"), func.min(L.c.expires_at).label("oldest"))
        .group_by(L.c.task_id)
        .subquery("leases")
    )
    n_answers = func.coalesce(answers.c.n, 0)
    n_leases = func.coalesce(leases.c.n, 0)
    gold = T.c.gold_answer.is_not(None)
    completed = T.c.state == "completed"
    wrong = or_(
        T.c.n_done != n_answers,
        T.c.n_reserved != n_leases,
        and_(~gold, n_answers > T.c.n_answers),
        and_(~gold, completed, n_answers < T.c.n_answers),
        and_(~gold, ~completed, n_answers >= T.c.n_answers),
        and_(gold, completed),
        and_(completed, n_leases > 0),
        leases.c.oldest < orphan_before,
    )
    query = (
        select(
            T.c.id,
            T.c.n_done,
            T.c.n_reserved,
            T.c.n_answers,
            T.c.state,
            gold.label("gold"),
            n_answers.label("answers"),
            n_leases.label("leases"),
            leases.c.oldest,
        )
        .outerjoin(answers, answers.c.task_id == T.c.id)
        .outerjoin(leases, leases.c.task_id == T.c.id)
        .where(wrong, *scoped(T))
        .order_by(T.c.id)
    )
    total = conn.scalar(select(func.count()).select_from(query.subquery()))
    sentences = []
    for row in conn.execute(query.limit(MAX_LISTED)):
        sentences.append(f"Task {row.id}: " + "; ".join(_task_faults(row, orphan_before)) + ".")
    _add(report, sentences, total)


def _task_faults(row, orphan_before: dt.datetime) -> list[str]:  # noqa: ANN001
    faults = []
    if row.n_done != row.answers:
        faults.append(f"n_done is {row.n_done} but it has {row.answers} answers")
    if row.n_reserved != row.leases:
        faults.append(f"n_reserved is {row.n_reserved} but it has {row.leases} leases")
    if not row.gold and row.answers > row.n_answers:
        faults.append(f"{row.answers} answers exceed its redundancy of {row.n_answers}")
    if not row.gold and (row.state == "completed") != (row.answers >= row.n_answers):
        faults.append(f"state is {row.state} with {row.answers} of {row.n_answers} answers")
    if row.gold and row.state == "completed":
        faults.append("a gold task is completed")
    if row.state == "completed" and row.leases:
        faults.append(f"completed but still leased {row.leases} time(s)")
    if row.oldest is not None and row.oldest < orphan_before:
        faults.append(f"a lease expired at {row.oldest:%Y-%m-%d %H:%M:%S} UTC was never swept")
    return faults


def _check_answers(conn, report: Report, scoped) -> None:  # noqa: ANN001
    query = (
        select(A.c.id, A.c.task_id, A.c.project_id, T.c.project_id.label("task_project"))
        .join(T, T.c.id == A.c.task_id)
        .where(A.c.project_id != T.c.project_id, *scoped(A))
        .order_by(A.c.id)
    )
    total = conn.scalar(select(func.count()).select_from(query.subquery()))
    sentences = [
        f"Answer {row.id} says project {row.project_id} but its task {row.task_id} is in"
        f" project {row.task_project}."
        for row in conn.execute(query.limit(MAX_LISTED))
    ]
    _add(report, sentences, total)


def _check_results(conn, report: Report, scoped) -> None:  # noqa: ANN001
    current = (
        select(R.c.task_id, func.count().label("n"))
        .where(R.c.last_version.is_(True))
        .group_by(R.c.task_id)
        .subquery("current")
    )
    n_current = func.coalesce(current.c.n, literal(0))
    query = (
        select(T.c.id, n_current.label("current"))
        .outerjoin(current, current.c.task_id == T.c.id)
        .where(
            T.c.state == "completed",
            T.c.gold_answer.is_(None),
            n_current != 1,
            *scoped(T),
        )
        .order_by(T.c.id)
    )
    total = conn.scalar(select(func.count()).select_from(query.subquery()))
    sentences = [
        f"Task {row.id} is completed with {row.current} current results (expected 1)."
        for row in conn.execute(query.limit(MAX_LISTED))
    ]
    _add(report, sentences, total)
    # a current result must list exactly the task's answers (it is written as the task completes)
    mismatched: list[str] = []
    count = 0
    answer_ids: dict[int, set[int]] = {}
    rows = conn.execute(
        select(R.c.id, R.c.task_id, R.c.task_run_ids)
        .join(T, T.c.id == R.c.task_id)
        .where(R.c.last_version.is_(True), T.c.state == "completed", *scoped(R))
        .order_by(R.c.task_id)
    ).all()
    for start in range(0, len(rows), 1000):
        batch = rows[start : start + 1000]
        answer_ids.clear()
        for task_id, answer_id in conn.execute(
            select(A.c.task_id, A.c.id).where(A.c.task_id.in_([r.task_id for r in batch]))
        ):
            answer_ids.setdefault(task_id, set()).add(answer_id)
        for row in batch:
            if set(row.task_run_ids or []) != answer_ids.get(row.task_id, set()):
                count += 1
                if len(mismatched) < MAX_LISTED:
                    mismatched.append(
                        f"Result {row.id} of task {row.task_id} lists answers"
                        f" {sorted(row.task_run_ids or [])} but the task has"
                        f" {sorted(answer_ids.get(row.task_id, set()))}."
                    )
    _add(report, mismatched, count)
