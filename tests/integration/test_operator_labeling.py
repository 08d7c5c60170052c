"""The operator's side of ``spec.labeling`` against a real LabelHive (gunicorn + PostgreSQL).

The migration Job's command lines are taken from the operator's own builder output and run as
the app image would run them, then the operator's ``labeling.sync`` creates the declared project
through the REST API, leaves it alone when nothing changed, and reports progress.
"""

from __future__ import annotations

from pathlib import Path

import requests
import yaml

from labelhive_operator import labeling
from labelhive_operator.builders import migrate
from labelhive_operator.spec import Project
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server

EXAMPLE = Path(__file__).parents[2] / "operator" / "examples" / "full.yaml"
ADMIN_KEY = "operator-admin-key-0123456789abcdef"


def job_commands(project: Project) -> list[list[str]]:
    """The ``labelhive`` argument lists of the migration Job, in the order the Pod runs them."""
    pod = migrate.job(project)["spec"]["template"]["spec"]
    containers = pod.get("initContainers", []) + pod["containers"]
    return [c["args"] for c in containers]


def test_labeling_spec_becomes_a_project_in_the_app(pg_url: str, tmp_path: Path) -> None:
    project = Project.from_body(yaml.safe_load(EXAMPLE.read_text()))
    assert project.spec.labeling is not None
    env = {"DATABASE_URL": pg_url, "SECRET_KEY": "operator-test"}
    job_env = {**env, "LABELHIVE_ADMIN_API_KEY": ADMIN_KEY}
    commands = job_commands(project)
    assert commands[0][:2] == ["db", "upgrade"]
    for _ in range(2):  # the Job runs again for every new image version
        for args in commands:
            labelhive_cli(*args, env=job_env)

    with labelhive_server(env, workers=1) as server:

        def app_project() -> dict:
            return requests.get(
                f"{server.url}/api/project/{first.project_id}",
                headers={"Authorization": ADMIN_KEY},
                timeout=5,
            ).json()

        first = labeling.sync(project, server.url, ADMIN_KEY)
        assert (first.tasks, first.completed, first.answers) == (0, 0, 0)
        before = app_project()
        again = labeling.sync(project, server.url, ADMIN_KEY)
        assert again.project_id == first.project_id
        # nothing declared changed: the second sync wrote nothing
        assert app_project()["updated"] == before["updated"]

        tasks_csv = tmp_path / "birds.csv"
        tasks_csv.write_text("url\n" + "".join(f"https://img.example/{i}.jpg\n" for i in range(4)))
        labelhive_cli("import", project.labeling_short_name, str(tasks_csv), env=env)
        progress = labeling.sync(project, server.url, ADMIN_KEY)
        assert (progress.tasks, progress.completed, progress.answers) == (4, 0, 0)

        listed = requests.get(
            server.url + "/api/project",
            params={"short_name": project.labeling_short_name, "all": "1"},
            headers={"Authorization": ADMIN_KEY},
            timeout=5,
        ).json()
        assert len(listed) == 1
        created = listed[0]
        assert created["published"] is True
        assert created["default_n_answers"] == project.spec.labeling.redundancy
        assert created["info"]["answers"] == list(project.spec.labeling.answers)
