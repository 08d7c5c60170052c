"""``/api/project/<id>/consensus``, ``/annotators`` and ``/dataset.<fmt>``, and the OpenAPI
document that describes them."""

from __future__ import annotations

import io
import json
import time

import pyarrow.parquet as pq
from openapi_spec_validator import validate

from labelhive.extensions import db
from labelhive.jobs.models import JobRecord
from labelhive.results import services
from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


def _labeled(api: Api) -> tuple[int, list[int]]:
    """A project with three tasks answered by three annotators, consensus computed."""
    project = api.project(api.owner, "pets")
    pid = project["id"]
    tasks = [api.task(api.owner, pid, n_answers=3)["id"] for _ in range(3)]
    votes = {
        tasks[0]: ("cat", "cat", "cat"),
        tasks[1]: ("dog", "dog", "cat"),
        tasks[2]: ("cat", "dog", "dog"),
    }
    for task_id, answers in votes.items():
        for who, answer in zip((api.owner, api.other, api.contributor), answers, strict=True):
            api.ok(api.post("/api/taskrun", who, {"task_id": task_id, "info": answer}))
    with api.app.app_context():
        services.recompute(pid)
    return pid, tasks


def test_consensus_and_annotators(api: Api) -> None:
    pid, tasks = _labeled(api)
    page = api.ok(api.get(f"/api/project/{pid}/consensus", api.owner, limit=2))
    assert [item["item_id"] for item in page] == tasks[:2]
    assert page[0]["votes"] == {"cat": 3} and page[0]["label"] == "cat"
    assert page[1]["votes"] == {"dog": 2, "cat": 1} and page[1]["n_answers"] == 3
    assert page[1]["method"] == "dawid_skene" and 0 < page[1]["confidence"] <= 1
    rest = api.ok(api.get(f"/api/project/{pid}/consensus", api.admin, last_id=tasks[1]))
    assert [item["item_id"] for item in rest] == tasks[2:]

    body = api.ok(api.get(f"/api/project/{pid}/annotators", api.owner))
    names = [a["name"] for a in body["annotators"]]
    assert sorted(names) == ["contributor", "other", "owner"]
    assert all(a["n_answers"] == 3 for a in body["annotators"])
    assert body["consensus"]["n_items"] == 3 and body["consensus"]["stale"] is False
    assert set(body["consensus"]["class_counts"]) == {"cat", "dog"}


def test_consensus_refusals(api: Api) -> None:
    pid, _ = _labeled(api)
    for path in ("consensus", "annotators", "dataset.csv"):
        envelope(
            api.get(f"/api/project/{pid}/{path}", api.contributor), 403, "Forbidden", "project"
        )
        envelope(api.get(f"/api/project/{pid}/{path}"), 401, "Unauthorized", "project")
    envelope(api.get(f"/api/project/{pid}/dataset.xlsx", api.owner), 404, "NotFound", "project")
    envelope(
        api.get(f"/api/project/{pid}/dataset.csv", api.owner, validation="2"),
        415,
        "ValueError",
        "project",
    )
    envelope(
        api.get(f"/api/project/{pid}/consensus", api.owner, limit="0"), 415, "ValueError", "project"
    )
    envelope(api.get("/api/project/99/consensus", api.owner), 404, "NotFound", "project")


def test_consensus_paging_refuses_ids_no_database_holds(any_api: Api) -> None:
    # beyond the id column's range: a clear refusal, not the database's overflow (a 500)
    pid, tasks = _labeled(any_api)
    for last_id in (str(2**31), str(2**63), "9" * 30):
        envelope(
            any_api.get(f"/api/project/{pid}/consensus", any_api.owner, last_id=last_id),
            415,
            "ValueError",
            "project",
        )
    page = any_api.ok(
        any_api.get(f"/api/project/{pid}/consensus", any_api.owner, last_id=str(2**31 - 1))
    )
    assert page == []


def test_dataset_downloads(api: Api) -> None:
    pid, tasks = _labeled(api)
    response = api.get(f"/api/project/{pid}/dataset.jsonl", api.owner, validation="0.5")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="pets-dataset.jsonl"'
    rows = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [r["item_id"] for r in rows] == tasks
    assert [r["votes"] for r in rows] == [
        {"cat": 3, "dog": 0},
        {"cat": 1, "dog": 2},
        {"cat": 1, "dog": 2},
    ]
    assert {r["split"] for r in rows} <= {"train", "validation"}
    parquet = api.get(f"/api/project/{pid}/dataset.parquet", api.owner)
    assert parquet.mimetype == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(parquet.get_data())).to_pylist()
    assert [r["votes_dog"] for r in table] == [0, 2, 2]
    csv = api.get(f"/api/project/{pid}/dataset.csv", api.owner).get_data(as_text=True)
    assert csv.splitlines()[0].lstrip("\ufeff").startswith("item_id,image,label,confidence")


def test_recompute_runs_as_a_job(api: Api) -> None:
    pid, _ = _labeled(api)
    job = api.ok(api.post(f"/api/project/{pid}/consensus", api.owner), 202)
    assert job["kind"] == "consensus" and job["project_id"] == pid
    deadline = time.monotonic() + 60
    with api.app.app_context():
        while True:
            record = db.session.get(JobRecord, job["id"])
            if record.status in ("finished", "failed") or time.monotonic() > deadline:
                break
            db.session.remove()
            time.sleep(0.1)
        assert record.status == "finished", record.error
        assert record.result["n_items"] == 3 and record.result["n_answers"] == 9
        db.session.remove()
    envelope(
        api.post(f"/api/project/{pid}/consensus", api.contributor), 403, "Forbidden", "project"
    )


def test_openapi_document_is_valid_and_documents_the_consensus_endpoints(api: Api) -> None:
    doc = api.ok(api.get("/api/openapi.json"))
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert set(doc["components"]["securitySchemes"]) == {"apiKeyQuery", "apiKeyHeader"}
    for path in (
        "/project/{project_id}/consensus",
        "/project/{project_id}/annotators",
        "/project/{project_id}/dataset.{format}",
        "/project/{project_id}/dataset/imagefolder",
    ):
        assert path in doc["paths"]
    # every documented path answers (not the catch-all 404 of unknown routes)
    pid, tasks = _labeled(api)
    # a finished export job, for the job paths (its download too)
    job = api.ok(
        api.post(f"/api/project/{pid}/export", api.owner, {"what": "tasks", "format": "csv"}), 202
    )
    deadline = time.monotonic() + 60
    while api.ok(api.get(f"/api/job/{job['id']}", api.owner))["status"] != "finished":
        assert time.monotonic() < deadline, "the export job did not finish"
        time.sleep(0.05)
    for path, item in doc["paths"].items():
        if "get" not in item:
            continue  # POST-only paths (starting jobs) are exercised by their own tests
        if any(name in path for name in ("{oid}", "{ref}", "{filename}")):
            continue  # PYBOSSA's resources: fuzzed in tests/security/test_api_fuzz.py
        url = "/api" + path.replace("{project_id}", str(pid)).replace("{format}", "csv")
        url = url.replace("{job_id}", job["id"]).replace("{task_id}", str(tasks[0]))
        # the admin routes answer a site admin only (their refusals: the authorization matrix)
        caller = api.admin if path.startswith("/admin/") else api.owner
        assert api.get(url, caller).status_code == 200, url
