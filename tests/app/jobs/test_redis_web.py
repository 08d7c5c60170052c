"""With Redis configured, the web import goes through the queue and a worker does it.

A real Redis master + replica + three Sentinels (tests/common/redis.py), and the real
``labelhive worker`` in a child process, on the same SQLite file as the web app.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rq import Queue
from sqlalchemy import func
from sqlalchemy import select

from labelhive.extensions import db
from labelhive.jobs import connection
from labelhive.tasks.models import Task
from tests.common.processes import labelhive_cli
from tests.common.redis import RedisCluster
from tests.common.redis import redis_cluster
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with redis_cluster() as cluster:
        yield cluster


def test_web_import_is_queued_in_redis_and_a_worker_completes_it(cluster, sqlite_url):
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=False, **cluster.env())
    with app.app_context():
        alice = make_user("alice")
        project = make_project(alice)
        client = app.test_client()
        sign_in(client, "alice")
        body = "url\n" + "".join(f"http://example.org/{i}.png\n" for i in range(9))
        preview = client.post(
            "/project/pets/import",
            data={"file": (io.BytesIO(body.encode()), "tasks.csv")},
            content_type="multipart/form-data",
        )
        assert preview.status_code == 200
        done = client.post("/project/pets/import/confirm")
        assert done.status_code == 302
        job_id = done.headers["Location"].rsplit("/", 1)[1]
        # on Redis, not run in this process: the job waits in the "default" queue
        queue = Queue("default", connection=connection.redis(app))
        assert job_id in queue.job_ids
        status = client.get(f"/project/pets/jobs/{job_id}/status").get_json()
        assert (status["status"], status["ended"]) == ("queued", False)

        env = {"DATABASE_URL": sqlite_url, "SECRET_KEY": "redis-web-test", **cluster.env()}
        worker = labelhive_cli("worker", "--burst", "--queues", "default", env=env, timeout=120)
        assert worker.returncode == 0, worker.stderr

        db.session.rollback()
        status = client.get(f"/project/pets/jobs/{job_id}/status").get_json()
        assert (status["status"], status["done"], status["total"]) == ("finished", 9, 9)
        assert status["tasks_url"] == "/project/pets/progress"
        count = db.session.scalar(
            select(func.count()).select_from(Task).where(Task.project_id == project.id)
        )
        assert count == 9 and job_id not in queue.job_ids
        db.session.remove()
        db.engine.dispose()
