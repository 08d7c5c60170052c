"""The shipped example operator/examples/minimal.yaml, run as Pods as the operator would build it.

Only what cannot exist here is swapped: the images (the app image built here for
``ghcr.io/labelhive/labelhive``, the test stand-ins for ``haproxy:2.8.16-alpine`` and
``redis:7.4.2-alpine``) and the database its Secret names (PostgreSQL on the Pod network's
gateway); replicas, resources, probes and every default stay as rendered. The test then checks
that every Pod is Ready and that a labeling round trip (project, task, claim, answer) goes
through the web Service, i.e. through the HAProxy sidecars.

operator/examples/full.yaml is not run: it does not fit a 2-core test machine beside the rest of
the suite (3 web Pods of 4 gunicorn workers, 6 Redis Pods, workers, scheduler), and it needs
more than images and endpoints swapped (S3 credentials through IRSA's ``roleArn``, which only
EKS's webhook turns into credentials). Its objects are checked as API objects in tests/operator.

What this does not cover (tests/e2e on kind does): the operator's reconcile (the objects come
from its builders through ``render_project``), a real kubelet, kube-proxy, CNI, the Ingress.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from labelhive_operator.render import render_project
from tests.common.processes import PostgresServer
from tests.operator.conftest import EXAMPLES
from tests.pods.kubelet import Kubelet
from tests.pods.test_scenarios import apply_project
from tests.pods.test_scenarios import secret

pytestmark = pytest.mark.timeout(1800)

NS = "labelhive"
OWNER_KEY = "examples-owner-key-0123456789abcdef"


def swapped(body: dict[str, Any], images: Any) -> dict[str, Any]:
    """The example with this machine's images (nothing else changed)."""
    repository, tag = images.app.rsplit(":", 1)
    spec = body["spec"]
    spec["image"] = {**spec.get("image", {}), "repository": repository, "tag": tag}
    spec["image"].pop("digest", None)
    spec.setdefault("web", {}).setdefault("haproxy", {})["image"] = images.haproxy
    spec.setdefault("redis", {})["image"] = images.redis
    return body


@pytest.fixture(scope="module")
def minimal(docker_engine: Any, pod_images: Any) -> Iterator[tuple[Kubelet, str]]:
    original = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    body = swapped(yaml.safe_load((EXAMPLES / "minimal.yaml").read_text()), pod_images)
    assert {k: v for k, v in body["spec"].items() if k not in ("image", "web", "redis")} == {
        k: v for k, v in original["spec"].items()
    }
    name = body["metadata"]["name"]
    # grace periods capped at 10 s: nothing here drains (the rollout is test_scenarios.py's)
    with Kubelet(docker_engine.client, NS, pause_image=pod_images.base, max_grace=10) as k:
        pg = PostgresServer(host=k.gateway, allow_cidr=k.subnet)
        try:
            pg.start()
            db_secret = original["spec"]["database"]["secretRef"]["name"]
            k.apply([secret(db_secret, {"uri": pg.create_database("labelhive")})])
            started = time.monotonic()
            apply_project(k, body, render_project(body, with_secrets=True))
            k.wait_ready(timeout=120)
            print(f"\nminimal.yaml: every Pod Ready {time.monotonic() - started:.1f} s after apply")
            yield k, name
        finally:
            print("\n" + k.table())
            pg.stop()


def test_the_minimal_example_runs_and_labels_through_the_service(
    minimal: tuple[Kubelet, str],
) -> None:
    k, name = minimal
    pods = [p for p in k.pods() if not p.owner.startswith("Job/")]
    assert {p.owner for p in pods} == {
        f"Deployment/{name}-web",
        f"Deployment/{name}-worker",
        f"Deployment/{name}-scheduler",
        f"StatefulSet/{name}-redis",
        f"StatefulSet/{name}-sentinel",
    }
    assert all(p.ready and p.restarts == 0 for p in pods), k.table()
    web_pods = k.pods(f"Deployment/{name}-web")
    code, out = k.exec(
        web_pods[0].name,
        "web",
        ["sh", "-c", f"KEY={OWNER_KEY} labelhive users create owner --api-key-from-env KEY"],
    )
    assert code == 0, out
    # a user's path: the Service's ready endpoint is HAProxy's port, never gunicorn's
    web = k.service_url(f"{name}-web", 8080)
    assert web.endswith(":8080")

    def api(method: str, path: str, **kw: Any) -> requests.Response:
        answer = requests.request(
            method, web + path, headers={"Authorization": OWNER_KEY}, timeout=60, **kw
        )
        assert answer.status_code == 200, (method, path, answer.status_code, answer.text)
        return answer

    project = api(
        "POST",
        "/api/project",
        json={
            "name": "Pets",
            "short_name": "pets",
            "description": "the minimal example",
            "info": {"question": "Which pet?", "answers": ["cat", "dog"]},
            "published": True,
        },
    ).json()
    api(
        "POST",
        "/api/task",
        json={
            "project_id": project["id"],
            "n_answers": 1,
            "info": {"url": "https://images.example.com/pets/0001.jpg"},
        },
    )
    task = api("GET", f"/api/project/{project['id']}/newtask").json()
    assert task and task["project_id"] == project["id"]
    api(
        "POST",
        "/api/taskrun",
        json={"project_id": project["id"], "task_id": task["id"], "info": "cat"},
    )
    # the answer is stored for every Pod: the other web Pod has no task left to hand out
    other = requests.get(
        f"http://{web_pods[-1].ip}:8080/api/project/{project['id']}/newtask",
        headers={"Authorization": OWNER_KEY},
        timeout=60,
    )
    assert other.status_code == 200 and other.json() in ({}, None), other.text
