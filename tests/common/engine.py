"""The annotation service called as a trusted entry point: the tests' short way to label.

Each function calls :mod:`labelhive.annotation.service` with a caller the test vouches for
(``Caller(user_id, trusted=True)``: no authorization check) and without follow-ups, with the
database engine as first argument. The app itself calls the service.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import Engine

from labelhive.annotation import service
from labelhive.annotation.core import Caller
from labelhive.annotation.service import Refused as EngineError
from labelhive.annotation.store import Claim
from labelhive.annotation.store import Submitted

__all__ = [
    "Claim",
    "EngineError",
    "Submitted",
    "claim",
    "claim_ahead",
    "release",
    "renew",
    "set_redundancy",
    "submit",
    "sweep_expired",
    "undo",
]


def claim(
    engine: Engine,
    project_id: int,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> Claim | None:
    return service.claim(project_id, Caller(user_id, trusted=True), engine=engine, now=now, rng=rng)


def claim_ahead(
    engine: Engine,
    project_id: int,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> Claim | None:
    caller = Caller(user_id, trusted=True)
    return service.claim(project_id, caller, ahead=True, engine=engine, now=now, rng=rng)


def submit(
    engine: Engine,
    task_id: int,
    user_id: int,
    info: Any,
    *,
    project_id: int | None = None,
    now: dt.datetime | None = None,
    user_ip: str | None = None,
    external_uid: str | None = None,
) -> Submitted:
    return service.submit(
        task_id,
        Caller(user_id, trusted=True),
        info,
        project_id=project_id,
        user_ip=user_ip,
        external_uid=external_uid,
        engine=engine,
        now=now,
        follow_up=False,
    )


def release(engine: Engine, task_id: int, user_id: int, *, skip: bool = False) -> bool:
    if skip:
        return service.skip(task_id, user_id, engine=engine)
    return service.release(task_id, user_id, engine=engine)


def renew(
    engine: Engine, task_id: int, user_id: int, *, now: dt.datetime | None = None
) -> dt.datetime | None:
    return service.renew(task_id, user_id, engine=engine, now=now)


def undo(engine: Engine, answer_id: int, user_id: int, *, now: dt.datetime | None = None) -> Claim:
    return service.undo(answer_id, Caller(user_id, trusted=True), engine=engine, now=now)


def set_redundancy(engine: Engine, n_answers: int, **kwargs: Any) -> int:
    return service.set_redundancy(n_answers, engine=engine, **kwargs)


def sweep_expired(engine: Engine, *, now: dt.datetime | None = None) -> int:
    return service.sweep_expired(engine=engine, now=now)
