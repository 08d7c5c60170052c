"""The operator's rendered workloads, run as Pods with the kubelet's rules, used as a team would.

``labelhive-operator render`` of a LabelingProject (the operator's own builders) gives every
object; :class:`tests.pods.kubelet.Kubelet` runs them on a private Docker Engine from images
built here. PostgreSQL and the signature-checking S3 (LocalStack) run on the host, bound to the
Pod network's gateway: outside the "cluster", as RDS and an S3 VPC endpoint are. The migration
Job runs first, then the rest, in the order the operator applies them (Deployments only once the
migration succeeded).

Every request goes where a user's would: to the web Service's ready endpoints (HAProxy's port),
never to gunicorn's port. What this does not cover, and only the kind end-to-end test does
(tests/e2e): the operator's reconcile against a real API server, scheduling, the real kubelet and
container runtime, kube-proxy's virtual IPs, CNI NetworkPolicies, garbage collection by
ownerReferences, the Ingress.

HAProxy version: the operator pins ``haproxy:2.8.16-alpine``, but no image registry is reachable
here and Debian has no HAProxy 2.8 for bookworm (bookworm and bookworm-security: 2.6.12; nothing
in bookworm-backports; trixie's 3.0 needs trixie's libc), so the sidecar runs Debian's 2.6
(tests/pods/images/haproxy.Dockerfile). Tried on 2.6 only, then, and left to the kind end-to-end
test on 2.8: the sidecar's readiness following its backend (``monitor fail if { nbsrv(app) lt 1
}``, ``rise 1`` and the fast checks while down), the signed-URL query checks of the S3 path (one
of each SigV4 parameter, the raw query split on ``&`` only, the bucket allow-list) and the 404 of
/metrics and /readyz through the sidecar.
"""

from __future__ import annotations

import contextlib
import csv
import io
import ipaddress
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from labelhive_operator.builders import migrate
from labelhive_operator.render import render_project
from labelhive_operator.spec import Project
from tests.common.processes import PostgresServer
from tests.common.s3 import ACCESS_KEY
from tests.common.s3 import REGION
from tests.common.s3 import SECRET_KEY
from tests.common.s3 import LocalStackS3
from tests.pods.kubelet import Kubelet

pytestmark = pytest.mark.timeout(900)

NS = "labelhive"
NAME = "pods"
BUCKET = "pods-private"
N_IMAGES = 12
REDUNDANCY = 2
ADMIN_KEY_SECRET = f"{NAME}-app-secrets"
WEB = f"{NAME}-web"
PASSWORD = "pods-password-123"


def png(rgb: tuple[int, int, int]) -> bytes:
    """A 1x1 PNG of one colour (distinct bytes per image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"\x00" + bytes(rgb)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def project_body(app_image: str, images: Any, s3: LocalStackS3) -> dict[str, Any]:
    repository, tag = app_image.rsplit(":", 1)
    return {
        "apiVersion": "labelhive.io/v1alpha1",
        "kind": "LabelingProject",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "image": {"repository": repository, "tag": tag},
            "web": {"replicas": 2, "gunicornWorkers": 1, "haproxy": {"image": images.haproxy}},
            "workers": {"replicas": 2},
            "redis": {
                "image": images.redis,
                "replicas": 2,
                "sentinel": {
                    "replicas": 3,
                    "quorum": 2,
                    "downAfterMilliseconds": 2000,
                    "failoverTimeoutMilliseconds": 10000,
                },
            },
            "database": {"secretRef": {"name": f"{NAME}-db"}},
            "storage": {
                "bucket": BUCKET,
                "region": REGION,
                "endpointURL": s3.endpoint_url,
                "credentialsSecretRef": {"name": f"{NAME}-s3"},
            },
            # makes the migration Job create the operator's admin user (its key: app-secrets)
            "labeling": {
                "title": "Shapes",
                "question": "Which shape?",
                "answers": ["circle", "square"],
                "redundancy": REDUNDANCY,
            },
        },
    }


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "Opaque",
        "stringData": data,
    }


@dataclass
class Stack:
    kubelet: Kubelet
    body: dict[str, Any]
    admin_key: str
    s3: LocalStackS3
    timings: dict[str, float]

    def web(self) -> str:
        """The web Service, as a client inside the cluster reaches it (a ready endpoint)."""
        return self.kubelet.service_url(WEB, 8080)

    def api(self, method: str, path: str, key: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": key or self.admin_key}
        return requests.request(method, self.web() + path, headers=headers, timeout=60, **kw)


def apply_project(k: Kubelet, body: dict[str, Any], objs: list[dict[str, Any]]) -> float:
    """Apply as the operator does: config, Redis, the migration Job; the workloads once it
    succeeded. Returns the migration's seconds."""
    project = Project.from_body({**body, "metadata": {"uid": "0", **body["metadata"]}})
    job = migrate.job_name(project)
    workloads = [o for o in objs if o["kind"] == "Deployment"]
    k.apply([o for o in objs if o["kind"] != "Deployment"])
    started = time.monotonic()
    outcome = k.wait_job(job, timeout=180)
    assert outcome == "Succeeded", k.logs(
        k.pods(f"Job/{job}", include_deleted=True)[0].name, "db-upgrade"
    )
    seconds = time.monotonic() - started
    k.apply(workloads)
    return seconds


@pytest.fixture(scope="module")
def stack(docker_engine: Any, pod_images: Any) -> Iterator[Stack]:
    # the grace periods as rendered (capped at 30 s): the web Pods sleep in preStop, then drain
    with Kubelet(docker_engine.client, NS, pause_image=pod_images.base, max_grace=30) as k:
        net = ipaddress.ip_network(k.subnet)
        gateway = str(next(net.hosts()))
        pg = PostgresServer(host=gateway, allow_cidr=k.subnet)
        s3 = LocalStackS3(host=gateway)
        try:
            pg.start()
            s3.start()
            client = s3.client()
            client.create_bucket(Bucket=BUCKET)
            for i in range(N_IMAGES):
                client.put_object(
                    Bucket=BUCKET, Key=f"shapes/{i:03d}.png", Body=png((20 * i, 100, 200))
                )
            body = project_body(pod_images.app, pod_images, s3)
            objs = render_project(body, with_secrets=True)
            db_url = pg.create_database("labelhive")
            k.apply(
                [
                    secret(f"{NAME}-db", {"uri": db_url}),
                    secret(
                        f"{NAME}-s3",
                        {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
                    ),
                ]
            )
            started = time.monotonic()
            migration = apply_project(k, body, objs)
            # the issue's bound: every Pod Ready within a minute of the workloads' apply (a wait's
            # limit, not a measurement: the figures are printed with the Pod table)
            k.wait_ready(timeout=60)
            timings = {"migration": migration, "all_ready": time.monotonic() - started}
            admin_key = next(
                o["stringData"]["admin-api-key"]
                for o in objs
                if o["kind"] == "Secret" and o["metadata"]["name"] == ADMIN_KEY_SECRET
            )
            yield Stack(k, body, admin_key, s3, timings)
        finally:
            print("\n" + k.table())
            s3.stop()
            pg.stop()


def test_every_pod_is_ready_within_a_minute_without_a_restart(stack: Stack) -> None:
    k = stack.kubelet
    pods = [p for p in k.pods() if not p.owner.startswith("Job/")]
    times = stack.timings
    print(f"\nmigration {times['migration']:.1f} s, all Ready {times['all_ready']:.1f} s")
    print(k.table())
    owners = {p.owner for p in pods}
    assert owners == {
        f"Deployment/{NAME}-web",
        f"Deployment/{NAME}-worker",
        f"Deployment/{NAME}-scheduler",
        f"StatefulSet/{NAME}-redis",
        f"StatefulSet/{NAME}-sentinel",
    }
    assert len(pods) == 2 + 2 + 1 + 2 + 3
    for pod in pods:
        assert pod.ready, pod
        assert pod.ready_seconds is not None, pod
        assert pod.restarts == 0, (pod.name, [k.logs(pod.name, c.name) for c in pod.containers])
    assert not k.errors(), k.errors()
    # the web Service has an endpoint per web Pod, on HAProxy's port
    endpoints = [e for port in k.endpoints(WEB).values() for e in port if e.ready]
    assert len(endpoints) == 2 and {e.port for e in endpoints} == {8080}


def test_a_write_outside_the_emptydirs_is_refused_in_every_app_container(stack: Stack) -> None:
    k = stack.kubelet
    web = k.pods(f"Deployment/{WEB}")[0].name
    code, out = k.exec(web, "web", ["sh", "-c", "id -u; touch /opt/x || echo refused"])
    assert out.split()[0] == "10001" and "refused" in out, out
    code, out = k.exec(web, "web", ["sh", "-c", "touch /tmp/ok && echo written"])
    assert code == 0 and "written" in out, out


@pytest.fixture(scope="module")
def project(stack: Stack) -> dict[str, Any]:
    made = stack.api(
        "POST",
        "/api/project",
        json={
            "name": "Shapes in pods",
            "short_name": "shapes",
            "description": "labeled from Pods",
            "info": {"question": "Which shape?", "answers": ["circle", "square"]},
            "published": True,
        },
    )
    assert made.status_code == 200, made.text
    project = made.json()
    for i in range(N_IMAGES):
        task = stack.api(
            "POST",
            "/api/task",
            json={
                "project_id": project["id"],
                "n_answers": REDUNDANCY,
                "info": {"url": f"s3://{BUCKET}/shapes/{i:03d}.png"},
            },
        )
        assert task.status_code == 200, task.text
    return project


def annotator_keys(stack: Stack, names: tuple[str, ...]) -> dict[str, str]:
    k = stack.kubelet
    web = k.pods(f"Deployment/{WEB}")[0].name
    keys = {}
    for name in names:
        keys[name] = f"pods-key-{name}-0123456789abcdef"
        code, out = k.exec(
            web,
            "web",
            [
                "sh",
                "-c",
                f"KEY={keys[name]} labelhive users create {name} --exist-ok --api-key-from-env KEY",
            ],
        )
        assert code == 0, out
    return keys


def label_some(stack: Stack, project: dict[str, Any], key: str, limit: int) -> int:
    """Claim and answer up to ``limit`` tasks as one annotator; return how many were answered."""
    done = 0
    while done < limit:
        claim = stack.api("GET", f"/api/project/{project['id']}/newtask", key=key)
        assert claim.status_code == 200, claim.text
        task = claim.json()
        if not task:
            break
        sent = stack.api(
            "POST",
            "/api/taskrun",
            key=key,
            json={"project_id": project["id"], "task_id": task["id"], "info": "circle"},
        )
        assert sent.status_code == 200, sent.text
        done += 1
    return done


def test_annotators_label_private_images_through_the_sidecar(
    stack: Stack, project: dict[str, Any]
) -> None:
    keys = annotator_keys(stack, ("ann", "bob"))
    claim = stack.api("GET", f"/api/project/{project['id']}/newtask", key=keys["ann"]).json()
    url = claim["image_url"]
    # presigned for the S3 endpoint, rewritten onto the site's own /s3/ path
    assert "/s3/" + BUCKET + "/shapes/" in url and "X-Amz-Signature=" in url
    path = url.split("/s3/", 1)[1]
    image = requests.get(stack.web() + "/s3/" + path, timeout=30)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    key = path.split("?", 1)[0].split("/", 1)[1]
    assert image.content == stack.s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    # unsigned, or with the signature tampered with: refused (by HAProxy, then by S3 itself)
    assert requests.get(stack.web() + "/s3/" + path.split("?")[0], timeout=30).status_code == 403
    tampered = stack.web() + "/s3/" + path.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert requests.get(tampered, timeout=30).status_code == 403
    # half the work now; the rest in the failover test
    answered = sum(label_some(stack, project, key, N_IMAGES // 2) for key in keys.values())
    assert answered == N_IMAGES


def wait_job(stack: Stack, job_id: str, timeout: float = 120) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        record = stack.api("GET", f"/api/job/{job_id}").json()
        assert record["status"] != "failed", record
        return record if record["status"] == "finished" else None

    return stack.kubelet.wait_for(finished, timeout, f"job {job_id}")


def start_export(stack: Stack, project: dict[str, Any], fmt: str) -> str:
    started = stack.api(
        "POST", f"/api/project/{project['id']}/export", json={"what": "answers", "format": fmt}
    )
    assert started.status_code == 202, started.text
    return str(started.json()["id"])


def sentinel_master(stack: Stack) -> str:
    k = stack.kubelet
    for pod in k.pods(f"StatefulSet/{NAME}-sentinel"):
        code, out = k.exec(
            pod.name,
            "sentinel",
            [
                "sh",
                "-c",
                'redis-cli -p 26379 --user default --pass "$REDIS_PASSWORD" --no-auth-warning '
                'sentinel get-master-addr-by-name "$REDIS_MASTER"',
            ],
        )
        if code == 0 and out.split():
            return out.split()[0]
    return ""


def test_redis_master_lost_sentinels_fail_over_answers_and_jobs_go_on(
    stack: Stack, project: dict[str, Any]
) -> None:
    k = stack.kubelet
    keys = annotator_keys(stack, ("ann", "bob"))
    old = sentinel_master(stack)
    assert old.startswith(f"{NAME}-redis-"), old
    master_pod = old.split(".")[0]
    # the master's node hangs: its Redis stops answering (a StatefulSet Pod on a lost node is
    # not replaced until the node is gone, so the Sentinels must elect a new master first)
    k._runtime(master_pod).docker_container("redis").pause()
    try:
        new = k.wait_for(
            lambda: (m := sentinel_master(stack)) and m != old and m, 60, "a new Redis master"
        )
    finally:
        k._runtime(master_pod).docker_container("redis").unpause()
    # the node is gone for good: the Pod is killed and the StatefulSet replaces it
    k.kill(master_pod)
    # right after the failover the workers run the consensus jobs queued meanwhile: their
    # store holds key-share locks on the tasks, which claims no longer skip (an empty claim
    # with tasks left failed this test once in four full runs before the task row locks
    # became FOR NO KEY UPDATE)
    answered = sum(label_some(stack, project, key, N_IMAGES) for key in keys.values())
    assert answered == N_IMAGES
    job = wait_job(stack, start_export(stack, project, "csv"))
    rows = list(
        csv.DictReader(io.StringIO(stack.api("GET", f"/api/job/{job['id']}/download").text))
    )
    assert len(rows) == N_IMAGES * REDUNDANCY
    # the replaced Pod comes back as a replica of the new master
    k.wait_ready(f"StatefulSet/{NAME}-redis", timeout=90)
    assert sentinel_master(stack) == new

    def role_of_replaced() -> str:
        code, out = k.exec(
            master_pod,
            "redis",
            [
                "sh",
                "-c",
                'redis-cli --user default --pass "$REDIS_PASSWORD" --no-auth-warning role',
            ],
        )
        return out.split()[0] if code == 0 and out.split() else ""

    k.wait_for(lambda: role_of_replaced() == "slave", 60, "the old master to rejoin as a replica")
    stats = stack.api("GET", f"/api/project/{project['id']}", params={"stats": 1}).json()["stats"]
    assert (stats["n_tasks"], stats["n_completed_tasks"], stats["n_answers"]) == (
        N_IMAGES,
        N_IMAGES,
        N_IMAGES * REDUNDANCY,
    )


def signed_in(stack: Stack, base: str, name: str) -> requests.Session:
    """A browser session on ``base``, signed in through the real form (CSRF included)."""
    k = stack.kubelet
    web = k.pods(f"Deployment/{WEB}")[0].name
    code, out = k.exec(
        web,
        "web",
        ["labelhive", "users", "create", name, "--password", PASSWORD, "--exist-ok"],
    )
    assert code == 0, out
    browser = requests.Session()
    page = browser.get(base + "/account/signin", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token, page.text[:500]
    done = browser.post(
        base + "/account/signin",
        data={"csrf_token": token[1], "login": name, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert done.status_code == 302, done.text[:500]
    return browser


def test_a_helping_material_uploaded_on_one_web_pod_is_read_on_the_other(
    stack: Stack, project: dict[str, Any]
) -> None:
    k = stack.kubelet
    first, second = (f"http://{p.ip}:8080" for p in k.pods(f"Deployment/{WEB}"))
    content = png((1, 2, 3)) * 50
    sent = requests.post(
        first + "/api/helpingmaterial",
        headers={"Authorization": stack.admin_key},
        data={"project_id": str(project["id"])},
        files={"file": ("guide.png", content, "image/png")},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    media = sent.json()["media_url"]
    path = "/" + media.split("/", 3)[3] if media.startswith("http") else media
    # an annotator's browser, on the other web Pod (the file went to the database, not a disk)
    back = signed_in(stack, second, "reader").get(second + path, timeout=30)
    assert back.status_code == 200, back.text[:500]
    assert back.content == content
    # and nobody else
    assert requests.get(second + path, timeout=30).status_code == 404


def test_metrics_and_readyz_are_kept_off_the_public_path(stack: Stack) -> None:
    k = stack.kubelet
    web = k.pods(f"Deployment/{WEB}")[0]
    for path in ("/metrics", "/readyz"):
        assert requests.get(stack.web() + path, timeout=30).status_code == 404
        # the kubelet and Prometheus reach gunicorn's own port on the Pod IP
        assert requests.get(f"http://{web.ip}:5000{path}", timeout=30).status_code == 200


def test_workers_scaled_to_three_all_take_jobs(stack: Stack, project: dict[str, Any]) -> None:
    k = stack.kubelet
    k.scale(f"Deployment/{NAME}-worker", 3)
    workers = k.wait_ready(f"Deployment/{NAME}-worker", timeout=90)
    assert len(workers) == 3

    def took_a_job(pod: str) -> bool:
        return "Successfully completed" in k.logs(pod, "worker") or "Job OK" in k.logs(
            pod, "worker"
        )

    formats = ["csv", "json", "jsonl"]
    for i in range(30):
        if all(took_a_job(w.name) for w in workers):
            break
        # one at a time: a finished export is built anew, and an idle worker takes the next
        wait_job(stack, start_export(stack, project, formats[i % 3]))
    assert all(took_a_job(w.name) for w in workers), {
        w.name: k.logs(w.name, "worker")[-2000:] for w in workers
    }


def test_a_new_app_image_runs_its_migration_then_rolls_out_without_an_error(
    stack: Stack, docker_engine: Any, pod_images: Any
) -> None:
    k = stack.kubelet
    repository, tag = pod_images.app.rsplit(":", 1)
    new_image = f"{repository}:{tag}-next"
    docker_engine.client.images.get(pod_images.app).tag(repository, f"{tag}-next")
    body = project_body(new_image, pod_images, stack.s3)
    old_revisions = {p.revision for p in k.pods(f"Deployment/{WEB}")}
    errors: list[str] = []
    served = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal served
        while not stop.is_set():
            with contextlib.suppress(LookupError):
                url = stack.web()
                try:
                    # through HAProxy to gunicorn; exempt from the rate limits, so every
                    # answer but a 200 is the rollout's doing
                    answer = requests.get(url + "/healthz", timeout=10)
                except requests.RequestException as e:
                    errors.append(f"{url}: {e}")
                    continue
                served += 1
                if answer.status_code != 200:
                    errors.append(f"{url}: {answer.status_code} {answer.text[:200]}")
            time.sleep(0.02)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        objs = render_project(body)
        apply_project(k, body, [o for o in objs if o["kind"] != "Secret"])
        pods = k.wait_ready(f"Deployment/{WEB}", timeout=180)
        k.wait_ready(timeout=180)
    finally:
        stop.set()
        thread.join()
    print(f"\nrollout: {served} requests through the web Service, {len(errors)} errors")
    assert {p.revision for p in pods}.isdisjoint(old_revisions)
    assert len(pods) == 2
    for pod in k.pods(f"Deployment/{WEB}"):
        assert k._runtime(pod.name).docker_container("web").attrs["Config"]["Image"] == new_image
    assert served > 0
    assert not errors, errors[:10]
