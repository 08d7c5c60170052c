"""The demo project ``labelhive serve --demo`` creates in an empty database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from labelhive.accounts import services as accounts
from labelhive.extensions import db
from labelhive.imports import writer as tasks
from labelhive.imports.parsers import TaskSpec
from labelhive.projects import services as projects
from labelhive.projects.models import Project

DEMO_IMAGES = Path(__file__).parent / "static" / "demo"
DEMO_SHORT_NAME = "demo-shapes"


def ensure_demo_project() -> Project | None:
    """Create the demo project when there is no project at all.

    Its owner is a ``demo`` account without a password (nobody signs in as it), so the first
    person to sign up still becomes the admin; the project is published so they can label it.

    :return: the project when it was created now, else ``None``.
    """
    if db.session.scalar(select(Project.id).limit(1)) is not None:
        return None
    owner = accounts.by_name("demo") or accounts.create_user("demo", admin=False)
    project = projects.create_project(
        owner,
        {
            "name": "Demo: shapes",
            "short_name": DEMO_SHORT_NAME,
            "description": "Label simple shapes to try LabelHive.",
            "info": {
                "question": "Which shape is this?",
                "answers": ["circle", "square", "triangle"],
                "instructions": "Press **1**, **2** or **3**; `s` skips, `u` undoes.",
            },
            "default_n_answers": 2,
            "published": True,
        },
    )
    specs = [
        TaskSpec(info={"url": f"/static/demo/{path.name}", "name": path.stem})
        for path in sorted(DEMO_IMAGES.glob("*.svg"))
    ]
    tasks.import_tasks(project, specs)
    db.session.commit()
    return project
