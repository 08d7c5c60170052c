"""Helpers for tests of the web UI: users, sign-in through the real form, a project with tasks."""

from __future__ import annotations

from flask.testing import FlaskClient

from labelhive.accounts.models import User
from labelhive.accounts.services import create_user
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.projects.services import create_project
from labelhive.tasks.models import Task

PASSWORD = "correct horse battery"


def make_user(name: str, **kwargs: object) -> User:
    user = create_user(name, password=PASSWORD, email=f"{name}@example.org", **kwargs)
    db.session.commit()
    return user


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD) -> None:
    response = client.post("/account/signin", data={"login": name, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)


def make_project(
    owner: User,
    *,
    short_name: str = "pets",
    n_tasks: int = 0,
    n_answers: int = 2,
    published: bool = True,
    answers: tuple[str, ...] = ("cat", "dog", "bird"),
) -> Project:
    project = create_project(
        owner,
        {
            "name": short_name.title(),
            "short_name": short_name,
            "info": {"question": "Which animal?", "answers": list(answers)},
            "default_n_answers": n_answers,
            "published": published,
        },
    )
    for i in range(n_tasks):
        db.session.add(
            Task(
                project_id=project.id,
                info={"url": f"http://127.0.0.1:9/img{i}.png", "name": f"img{i}"},
                n_answers=n_answers,
            )
        )
    db.session.commit()
    return project
