"""The annotation rules as pure decisions: context records in, decisions out (no database)."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import pathlib

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from labelhive.annotation import core
from labelhive.annotation.core import Caller
from labelhive.annotation.core import ProjectFacts
from labelhive.annotation.core import Refusal
from labelhive.annotation.core import TaskFacts

NOW = dt.datetime(2026, 1, 1, 12, 0, 0)
OWNER = Caller(1)
ANNIE = Caller(2)
ADMIN = Caller(3, admin=True)
PUBLISHED = ProjectFacts(10, owner_id=1, published=True)
DRAFT = ProjectFacts(10, owner_id=1, published=False)


def task(**values: object) -> TaskFacts:
    fields = {
        "id": 100,
        "project_id": 10,
        "n_answers": 3,
        "n_done": 0,
        "n_reserved": 0,
        "state": "ongoing",
        "gold": False,
    }
    return TaskFacts(**{**fields, **values})  # type: ignore[arg-type]


def submit(info: object = "cat", **values: object) -> core.SubmitContext:
    fields = {
        "caller": ANNIE,
        "now": NOW,
        "info": info,
        "task": task(),
        "project": PUBLISHED,
        "options": ("cat", "dog"),
        "lease_created": NOW - dt.timedelta(seconds=30),
    }
    return core.SubmitContext(**{**fields, **values})  # type: ignore[arg-type]


def test_the_core_imports_neither_flask_nor_sqlalchemy():
    source = pathlib.Path(core.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "dataclasses",
        "datetime",
        "enum",
        "random",
        "collections",
        "typing",
    }


# --- claim ---


def test_a_claim_in_a_missing_project_or_a_draft_of_someone_else_is_refused():
    missing = core.decide_claim(core.ClaimContext(ANNIE, NOW, None))
    assert missing == core.Refuse(Refusal.PROJECT_NOT_FOUND)
    draft = core.decide_claim(core.ClaimContext(ANNIE, NOW, DRAFT, lease_ttl=60))
    assert isinstance(draft, core.Refuse) and draft.reason == Refusal.FORBIDDEN
    # the owner, an admin and a caller the entry point vouched for may work on a draft
    for who in (OWNER, ADMIN, Caller(9, trusted=True)):
        assert isinstance(core.decide_claim(core.ClaimContext(who, NOW, DRAFT)), core.Take)


def test_a_claim_resumes_the_held_lease_sweeps_expired_ones_and_serves_gold_by_the_draw():
    context = core.ClaimContext(ANNIE, NOW, PUBLISHED, lease_ttl=60, held_lease_id=7)
    take = core.decide_claim(context)
    assert take == core.Take(
        (core.USUAL_KIND, (False, False)), NOW + dt.timedelta(seconds=60), resume=7
    )
    swept = core.decide_claim(dataclasses.replace(context, held_lease_id=None, has_expired=True))
    assert isinstance(swept, core.Take) and swept.sweep and swept.resume is None
    gold = dataclasses.replace(context, gold_rate=0.25, gold_draw=0.1)
    assert core.decide_claim(gold).kinds[0] == (True, True)  # type: ignore[union-attr]
    no_gold = dataclasses.replace(gold, gold_draw=0.3)
    assert (True, True) not in core.decide_claim(no_gold).kinds  # type: ignore[union-attr]


# --- submit ---


def test_submit_refusals_come_in_the_order_the_api_documents():
    assert core.decide_submit(submit(task=None)).reason == Refusal.TASK_NOT_FOUND  # type: ignore[union-attr]
    forbidden = core.decide_submit(submit(project=DRAFT))
    assert forbidden == core.Refuse(Refusal.FORBIDDEN)
    wrong = core.decide_submit(submit(expected_project_id=11))
    assert wrong == core.Refuse(Refusal.WRONG_PROJECT)
    invalid = core.decide_submit(submit("horse"))
    assert isinstance(invalid, core.Refuse) and invalid.reason == Refusal.INVALID_ANSWER
    assert "'cat', 'dog'" in invalid.message


def test_a_retried_submit_returns_the_stored_answer_and_a_changed_one_is_refused():
    assert core.decide_submit(submit(answer_id=5, answer_info="cat")) == core.AlreadyStored(5)
    changed = core.decide_submit(submit("dog", answer_id=5, answer_info="cat", lease_created=None))
    assert changed == core.Refuse(Refusal.ALREADY_ANSWERED)
    # a lease still held on the answered task reserves a slot nobody can fill: it goes
    held = core.decide_submit(submit("dog", answer_id=5, answer_info="cat"))
    assert held == core.Refuse(Refusal.ALREADY_ANSWERED, free_leases=1)


def test_a_late_submit_without_room_gives_its_slots_back_and_is_refused():
    full = task(n_done=2, n_reserved=2)  # two answers, annie's expired lease and bob's live one
    late = core.decide_submit(submit(task=full, lease_created=None, expired_leases=1))
    assert late == core.Refuse(Refusal.NO_ROOM, free_leases=1)


def test_the_last_answer_completes_the_task_and_frees_the_lease_it_filled():
    last = core.decide_submit(submit(task=task(n_done=2, n_reserved=1)))
    assert last == core.Insert(
        free_leases=1,
        n_done=3,
        n_reserved=0,
        complete=True,
        state="completed",
        created=NOW - dt.timedelta(seconds=30),
    )


def test_gold_tasks_take_any_number_of_answers_and_never_complete():
    gold = task(gold=True, n_done=50, n_reserved=3)
    decision = core.decide_submit(submit(task=gold))
    assert isinstance(decision, core.Insert) and not decision.complete
    assert decision.state == "ongoing" and decision.n_done == 51


# --- undo ---


def undo(**values: object) -> core.UndoContext:
    fields = {"caller": ANNIE, "now": NOW, "task": task(n_done=1), "project": PUBLISHED}
    return core.UndoContext(**{**fields, **values}, lease_ttl=60)  # type: ignore[arg-type]


def test_undo_refusals_and_the_managers_right_to_delete():
    assert core.decide_undo(undo(task=None)) == core.Refuse(
        Refusal.TASK_NOT_FOUND, core.NO_SUCH_ANSWER
    )
    other_page = core.decide_undo(undo(expected_project_id=11))
    assert other_page == core.Refuse(Refusal.TASK_NOT_FOUND, core.NO_SUCH_ANSWER)
    assert core.decide_undo(undo(project=DRAFT)) == core.Refuse(Refusal.FORBIDDEN)
    owner_deletes = core.decide_undo(
        undo(caller=OWNER, project=DRAFT, managers_too=True), keep_lease=False
    )
    assert owner_deletes == core.TakeBack(NOW + dt.timedelta(seconds=60), keep_lease=False)
    done = undo(task=task(n_done=3, state="completed"))
    assert core.decide_undo(done) == core.Refuse(Refusal.TASK_COMPLETED)


# --- properties: exact redundancy over any sequence of decisions ---


@dataclasses.dataclass
class World:
    """A task's rows as an executor would keep them, driven only by the core's decisions."""

    n_answers: int
    answers: dict[int, str] = dataclasses.field(default_factory=dict)
    # user -> lease expired?
    leases: dict[int, bool] = dataclasses.field(default_factory=dict)
    state: str = "ongoing"

    def facts(self) -> TaskFacts:
        return task(
            n_answers=self.n_answers,
            n_done=len(self.answers),
            n_reserved=len(self.leases),
            state=self.state,
        )

    def take(self, user: int) -> None:
        # a take's statement: room for one more, not answered or held by the user
        facts = self.facts()
        if (
            user not in self.answers
            and user not in self.leases
            and facts.state == "ongoing"
            and facts.n_done + facts.n_reserved < facts.n_answers
        ):
            self.leases[user] = False

    def submit(self, user: int, info: str) -> core.SubmitDecision:
        mine = user in self.leases
        expired = sum(1 for who, gone in self.leases.items() if gone and who != user)
        context = submit(
            info,
            caller=Caller(user),
            task=self.facts(),
            answer_id=user if user in self.answers else None,
            answer_info=self.answers.get(user),
            lease_created=NOW if mine else None,
            expired_leases=expired,
        )
        decision = core.decide_submit(context)
        freed = isinstance(decision, core.Insert) or (
            isinstance(decision, core.Refuse) and decision.free_leases
        )
        if freed:
            self.leases = {w: g for w, g in self.leases.items() if not (g or w == user)}
        if isinstance(decision, core.Insert):
            self.answers[user] = info
            self.state = decision.state
            assert decision.n_reserved == len(self.leases)
        return decision


USERS = st.integers(min_value=1, max_value=6)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["take", "submit", "expire"]), USERS, st.sampled_from(["cat", "dog"])
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(n_answers=st.integers(min_value=1, max_value=4), steps=STEPS)
def test_never_more_than_n_answers_answers_and_leases_and_one_answer_per_user(n_answers, steps):
    world = World(n_answers)
    for action, user, info in steps:
        if action == "take":
            world.take(user)
        elif action == "expire" and user in world.leases:
            world.leases[user] = True
        elif action == "submit":
            before = dict(world.answers)
            decision = world.submit(user, info)
            if user in before:
                # idempotent retry, or a refusal: never a second answer
                assert world.answers == before
                expected = core.AlreadyStored(user) if before[user] == info else None
                assert decision == expected or (
                    isinstance(decision, core.Refuse)
                    and decision.reason == Refusal.ALREADY_ANSWERED
                )
        assert len(world.answers) + len(world.leases) <= n_answers
        assert len(world.answers) <= n_answers
        assert (world.state == "completed") == (len(world.answers) >= n_answers)


@given(
    n_done=st.integers(0, 10),
    n_reserved=st.integers(0, 10),
    n_answers=st.integers(1, 10),
    expired=st.integers(0, 10),
    holds=st.booleans(),
)
def test_an_insert_always_leaves_the_counters_within_the_redundancy(
    n_done, n_reserved, n_answers, expired, holds
):
    # the counters an executor reads are consistent: the leases freed are among those counted
    expired = min(expired, n_reserved - holds) if n_reserved >= holds else 0
    holds = holds and n_reserved >= 1
    facts = task(n_done=n_done, n_reserved=n_reserved, n_answers=n_answers)
    context = submit(task=facts, expired_leases=expired, lease_created=NOW if holds else None)
    decision = core.decide_submit(context)
    if n_done + n_reserved <= n_answers and isinstance(decision, core.Insert):
        assert decision.n_done + decision.n_reserved <= n_answers
        assert decision.n_reserved == n_reserved - expired - holds >= 0
    if isinstance(decision, core.Refuse):
        assert decision.reason == Refusal.NO_ROOM
        assert n_done + (n_reserved - expired - holds) >= n_answers


def test_holding_refuses_like_a_claim_even_with_nothing_left_to_claim():
    draft = core.ProjectFacts(1, owner_id=7, published=False)
    assert core.decide_hold(Caller(8), None) == core.Refuse(core.Refusal.PROJECT_NOT_FOUND)
    assert core.decide_hold(Caller(8), draft) == core.Refuse(core.Refusal.FORBIDDEN)
    assert core.decide_hold(Caller(7), draft) is None
    assert core.decide_hold(Caller(8, admin=True), draft) is None
    assert core.decide_hold(Caller(8), dataclasses.replace(draft, published=True)) is None
