"""One timestamp format across the API: PYBOSSA's ISO 8601, UTC, without a time zone.

The job records and the consensus endpoints wrote a trailing ``Z`` where every PYBOSSA resource
writes none (docs/api.md, and the OpenAPI document's "ISO 8601, UTC, no time zone"). Exports are
files with their own documented format and are not covered here.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.app.api.conftest import Api
from tests.app.api.test_consensus import _labeled

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")


def _stamps(body: Any, names: tuple[str, ...]) -> list[str]:
    return [body[name] for name in names if body.get(name) is not None]


def test_every_resource_writes_the_same_format(api: Api) -> None:
    pid, tasks = _labeled(api)
    seen: list[str] = []
    seen += _stamps(api.ok(api.get(f"/api/project/{pid}", api.owner)), ("created", "updated"))
    seen += _stamps(api.ok(api.get(f"/api/task/{tasks[0]}", api.owner)), ("created",))
    (run, *_) = api.ok(api.get("/api/taskrun", api.owner, task_id=tasks[0]))
    seen += _stamps(run, ("created", "finish_time"))
    (item, *_) = api.ok(api.get(f"/api/project/{pid}/consensus", api.owner, limit=1))
    seen += _stamps(item, ("computed_at",))
    annotators = api.ok(api.get(f"/api/project/{pid}/annotators", api.owner))
    seen += _stamps(annotators["consensus"], ("computed_at",))
    job = api.ok(api.post(f"/api/project/{pid}/consensus", api.owner), 202)
    deadline = time.monotonic() + 60
    while job["status"] not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = api.ok(api.get(f"/api/job/{job['id']}", api.owner))
    assert job["status"] == "finished", job["error"]
    seen += _stamps(job, ("created", "updated", "finished"))
    # each resource contributed: three from the job, two from the consensus endpoints
    assert len(seen) >= 10
    assert [s for s in seen if not ISO.match(s)] == []
