"""The ``pbs`` 3.0.0 command line against LabelHive (contract §2.4), run as a user runs it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.compat.conftest import Compat


def project_dir(tmp_path: Path, short_name: str) -> Path:
    """A pbs working folder: project.json plus the four files update_project reads (§2.5.4)."""
    folder = tmp_path / short_name
    folder.mkdir()
    spec = {"name": f"PBS {short_name}", "short_name": short_name, "description": "via pbs"}
    (folder / "project.json").write_text(json.dumps(spec))
    (folder / "template.html").write_text(
        "<div id='q'>Is it a cat?</div><script>pybossa.taskLoaded(function(){});</script>"
    )
    (folder / "results.html").write_text("<p>results</p>")
    (folder / "long_description.md").write_text("# About\n\nA pbs project.")
    (folder / "tutorial.html").write_text("<p>tutorial</p>")
    return folder


def tasks_of(compat: Compat, project_id: int) -> list[dict]:
    response = compat.api(
        "owner", "GET", "/api/task", params={"project_id": project_id, "limit": 100}
    )
    assert response.status_code == 200, response.text
    return response.json()


def the_project(compat: Compat, short_name: str) -> dict:
    found = compat.api("owner", "GET", "/api/project", params={"short_name": short_name}).json()
    assert len(found) == 1, found
    return found[0]


def test_create_add_update_delete(compat: Compat, tmp_path: Path) -> None:
    folder = project_dir(tmp_path, "pbs-main")
    done = compat.pbs("owner", folder, "create-project")
    assert done.returncode == 0, done.stderr
    assert "Project: pbs-main created!" in done.stdout
    project = the_project(compat, "pbs-main")
    pid = project["id"]

    again = compat.pbs("owner", folder, "create-project")
    assert again.returncode != 0
    assert "ProjectAlreadyExists" in again.stderr

    with open(folder / "tasks.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["url", "caption"])
        writer.writerows([f"https://img.example/{i}.png", f"picture {i}"] for i in range(4))
    done = compat.pbs(
        "owner", folder, "add-tasks", "--tasks-file", "tasks.csv", "--tasks-type", "csv",
        "--redundancy", "3", "--priority", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 tasks added to project: pbs-main" in done.stdout
    rows = [{"info": {"url": f"https://img.example/j{i}.png", "n": i}} for i in range(2)]
    rows.append({"url": "https://img.example/whole-row.png"})  # no "info": the row is the info
    (folder / "tasks.json").write_text(json.dumps(rows))
    done = compat.pbs(
        "owner", folder, "add-tasks", "--tasks-file", "tasks.json", "--tasks-type", "json",
        "--redundancy", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    tasks = tasks_of(compat, pid)
    assert len(tasks) == 7
    from_csv, from_json = tasks[:4], tasks[4:]
    # CSV values are strings; the flags apply to every row
    assert from_csv[0]["info"] == {"url": "https://img.example/0.png", "caption": "picture 0"}
    assert {(t["n_answers"], t["priority_0"]) for t in from_csv} == {(3, 1.0)}
    assert [t["info"] for t in from_json] == [
        {"url": "https://img.example/j0.png", "n": 0},
        {"url": "https://img.example/j1.png", "n": 1},
        {"url": "https://img.example/whole-row.png"},
    ]
    assert {(t["n_answers"], t["priority_0"]) for t in from_json} == {(2, 0.0)}

    done = compat.pbs("owner", folder, "update-project", "--task-presenter", "template.html")
    assert done.returncode == 0, done.stderr
    assert "Project pbs-main updated!" in done.stdout
    project = the_project(compat, "pbs-main")
    assert project["info"]["task_presenter"] == (folder / "template.html").read_text()
    assert project["info"]["tutorial"] == "<p>tutorial</p>"
    assert project["long_description"] == "# About\n\nA pbs project."
    # storing a presenter does not switch the labeling page to it
    assert project["use_task_presenter"] is False

    # --redundancy has no type: pbs sends the string "5" (§2.5.3); it is accepted
    first = from_csv[0]["id"]
    done = compat.pbs(
        "owner", folder, "update-task-redundancy", "--task-id", str(first), "--redundancy", "5"
    )
    assert done.returncode == 0, done.stderr
    assert f"Task.id = {first} redundancy has been updated to 5" in done.stdout
    done = compat.pbs("owner", folder, "update-task-redundancy", "--redundancy", "4", answer="y\n")
    assert done.returncode == 0, done.stderr
    assert {t["n_answers"] for t in tasks_of(compat, pid)} == {4}

    done = compat.pbs("owner", folder, "delete-tasks", "--task-id", str(first))
    assert done.returncode == 0, done.stderr
    assert first not in [t["id"] for t in tasks_of(compat, pid)]
    done = compat.pbs("owner", folder, "delete-tasks", answer="y\n")
    assert done.returncode == 0, done.stderr
    assert tasks_of(compat, pid) == []


def test_unknown_project_and_owner_context(compat: Compat, tmp_path: Path) -> None:
    folder = project_dir(tmp_path, "pbs-nowhere")
    (folder / "tasks.json").write_text(json.dumps([{"url": "https://img.example/x.png"}]))
    args = ("add-tasks", "--tasks-file", "tasks.json", "--tasks-type", "json")
    done = compat.pbs("owner", folder, *args)
    assert done.returncode != 0
    assert "ProjectNotFound" in done.stderr

    # the owner's project is outside another user's context, even with --all=1 they may not
    # add tasks: the 403 names target "task", which pbs reports as TaskNotFound
    owned = project_dir(tmp_path, "pbs-owned")
    assert compat.pbs("owner", owned, "create-project").returncode == 0
    pid = the_project(compat, "pbs-owned")["id"]
    assert compat.api("owner", "PUT", f"/api/project/{pid}", json={"published": True}).ok
    (owned / "tasks.json").write_text(json.dumps([{"url": "https://img.example/x.png"}]))
    done = compat.pbs("other", owned, *args)
    assert "ProjectNotFound" in done.stderr
    done = compat.pbs("other", owned, "--all", "1", *args)
    assert "TaskNotFound" in done.stderr
    assert tasks_of(compat, pid) == []


def test_add_helping_materials(compat: Compat, tmp_path: Path) -> None:
    folder = project_dir(tmp_path, "pbs-help")
    assert compat.pbs("owner", folder, "create-project").returncode == 0
    pid = the_project(compat, "pbs-help")["id"]
    (folder / "hawk.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    materials = [
        {"info": {"text": "Hawks have hooked beaks"}},
        {"caption": "a hawk", "file_path": str(folder / "hawk.jpg")},
    ]
    (folder / "help.json").write_text(json.dumps(materials))
    done = compat.pbs(
        "owner", folder, "add-helpingmaterials", "--helping-materials-file", "help.json",
        "--helping-type", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 helping materials added to project: pbs-help" in done.stdout
    listed = compat.api("owner", "GET", "/api/helpingmaterial", params={"project_id": pid}).json()
    assert listed[0]["info"] == {"text": "Hawks have hooked beaks"}
    assert listed[1]["info"]["caption"] == "a hawk"
    assert listed[1]["info"]["file_name"] == "hawk.jpg"
    served = compat.api(None, "GET", listed[1]["media_url"][len(compat.url) :])
    assert served.status_code == 404  # members only
