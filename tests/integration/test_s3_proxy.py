"""Private images end to end: LocalStack's S3 (checks signatures) <- HAProxy (haproxy/haproxy.cfg)
-> gunicorn, all real processes on loopback.

What is proven here is that S3 itself refuses what the app did not sign: a tampered, an expired
and an unsigned URL are refused; and that HAProxy lets through nothing but presigned GET/HEAD.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from labelhive.extensions import db
from labelhive.imports import s3_prefix as importer
from labelhive.storage import s3
from tests.common.haproxy import HAProxyServer
from tests.common.haproxy import haproxy
from tests.common.processes import LabelhiveServer
from tests.common.processes import labelhive_server
from tests.common.processes import port_open
from tests.common.s3 import LocalStackS3
from tests.common.web import PASSWORD
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app
from tests.docker.test_haproxy_config import hostile_s3_targets  # the same cases, stand-in S3
from tests.docker.test_haproxy_config import raw_get

BUCKET = "private-images"
# keys a browser and a proxy can get wrong: spaces, plus signs, percent signs, non-ASCII
KEYS = [f"pets/{i:02d} cat+dog %{i} é.png" for i in range(6)]


@dataclass
class Site:
    s3: LocalStackS3
    server: LabelhiveServer
    proxy: HAProxyServer
    images: dict[str, bytes]
    keys: dict[str, str]  # user name -> API key
    project_id: int
    config: dict[str, object]
    db_url: str

    @property
    def url(self) -> str:
        return self.proxy.url

    def newtask(self, user: str) -> dict:
        response = requests.get(
            f"{self.url}/api/project/{self.project_id}/newtask",
            params={"api_key": self.keys[user]},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def site(s3_server: LocalStackS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    client = s3_server.client()
    client.create_bucket(Bucket=BUCKET)
    images = {key: b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2048) for key in KEYS}
    for key, body in images.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="image/png")
    client.put_object(Bucket=BUCKET, Key="pets/notes.txt", Body=b"not an image")

    db_url = f"sqlite:///{tmp_path_factory.mktemp('s3site') / 'labelhive.db'}"
    config: dict[str, object] = {
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_REGION": "us-east-1",
        "S3_PROXY_PREFIX": "/s3",
        "S3_PRESIGN_TTL": 60,
        "S3_BUCKET": BUCKET,
    }
    env = {**s3_server.env(), "DATABASE_URL": db_url, "SECRET_KEY": "s3-proxy-test"}
    env |= {k: str(v) for k, v in config.items()} | {"RATELIMIT_ENABLED": "0"}
    saved = {k: os.environ.get(k) for k in s3_server.env()}
    os.environ.update(s3_server.env())  # the in-process import below uses boto3's chain too
    try:
        app = make_app(db_url, **config)
        with app.app_context():
            alice = make_user("alice")
            keys = {"alice": alice.api_key}
            for name in ("bob", "carol"):
                keys[name] = make_user(name).api_key
            project_id = make_project(alice, short_name="pets", n_answers=2).id
            summary = importer.import_prefix(project_id, BUCKET, "pets/", "png")
            assert summary.imported == len(KEYS)
            db.session.remove()
            db.engine.dispose()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    with (
        labelhive_server(env, workers=1, threads=4) as server,
        haproxy(config, server.port) as proxy,
    ):
        yield Site(s3_server, server, proxy, images, keys, project_id, config, db_url)


def signature_changed(url: str) -> str:
    start = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = "1" if url[start] != "1" else "2"
    return url[:start] + flipped + url[start + 1 :]


def test_presigned_url_from_the_app_serves_the_bytes_through_haproxy(site: Site) -> None:
    task = site.newtask("alice")
    url = task["image_url"]
    assert url.startswith(f"/s3/{BUCKET}/pets/") and "X-Amz-Signature=" in url
    # the stored info is left as it was: an s3:// URL, no signature
    assert task["info"]["url"] == f"s3://{BUCKET}/{task['info']['key']}"
    response = requests.get(site.url + url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.content == site.images[task["info"]["key"]]
    assert response.headers["Content-Type"] == "image/png"
    # served from the app's origin: never sniffed or run as a page
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    head = requests.head(site.url + url, timeout=10)
    # a HEAD on a GET signature: let through by HAProxy, refused by S3 (the method is signed)
    assert head.status_code == 403


def test_a_changed_signature_is_refused_by_s3(site: Site) -> None:
    url = site.newtask("alice")["image_url"]
    assert requests.get(site.url + url, timeout=10).status_code == 200
    response = requests.get(site.url + signature_changed(url), timeout=10)
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text
    # the same for another key under the same signature: the path is signed too
    key = re.search(r"/pets/(\d\d)", url).group(1)
    other = url.replace(f"/pets/{key}", f"/pets/{'05' if key != '05' else '04'}")
    assert other != url
    assert requests.get(site.url + other, timeout=10).status_code == 403


def test_an_expired_url_is_refused_by_s3(site: Site) -> None:
    app = make_app(site.db_url, **{**site.config, "S3_PRESIGN_TTL": 1})
    saved = {k: os.environ.get(k) for k in site.s3.env()}
    os.environ.update(site.s3.env())
    try:
        with app.app_context():
            url = s3.proxy_url(BUCKET, KEYS[0])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    fresh = requests.get(site.url + url, timeout=10)
    time.sleep(2.2)
    expired = requests.get(site.url + url, timeout=10)
    assert (fresh.status_code, expired.status_code) == (200, 403)
    assert "expired" in expired.text


def test_no_signature_no_image(site: Site) -> None:
    path = f"/s3/{BUCKET}/" + requests.utils.quote(KEYS[0])
    assert requests.get(site.url + path, timeout=10).status_code == 403
    # LocalStack itself would serve it (as a bucket that trusts the VPC endpoint would):
    # HAProxy's check is what stands in the way
    direct = requests.get(site.s3.endpoint_url + path[len("/s3") :], timeout=10)
    assert direct.status_code == 200 and direct.content == site.images[KEYS[0]]
    # a signature parameter alone is not enough: S3 checks it (400: the signed query is
    # incomplete, as AWS answers too)
    forged = requests.get(
        site.url + path,
        params={"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Signature": "0" * 64},
        timeout=10,
    )
    assert forged.status_code in (400, 403) and forged.content not in site.images.values()
    # a listing of the bucket, signed or not, is not an image
    assert requests.get(f"{site.url}/s3/{BUCKET}/", timeout=10).status_code == 403


def test_writes_are_refused(site: Site) -> None:
    url = site.url + site.newtask("alice")["image_url"]
    for method in ("PUT", "DELETE", "POST", "PATCH", "OPTIONS"):
        assert requests.request(method, url, data=b"x", timeout=10).status_code == 405, method
    # every object is still there, unchanged
    client = site.s3.client()
    for key, body in site.images.items():
        assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body


def test_session_and_stray_headers_do_not_reach_s3(site: Site) -> None:
    url = site.url + site.newtask("alice")["image_url"]
    response = requests.get(
        url,
        headers={
            "Cookie": "session=secret",
            "Authorization": "Bearer secret",
            "X-Amz-Security-Token": "would-break-the-signature",
            "Host": "evil.example",
        },
        timeout=10,
    )
    assert response.status_code == 200


def test_a_user_without_the_lease_gets_no_url(site: Site) -> None:
    alice_task = site.newtask("alice")
    bob_task = site.newtask("bob")
    assert bob_task["id"] != alice_task["id"] or bob_task.get("image_url")
    # bob reads alice's task through the API: the stored s3:// URL, never a signed one
    response = requests.get(
        f"{site.url}/api/task/{alice_task['id']}", params={"api_key": site.keys["bob"]}, timeout=10
    )
    assert response.status_code == 200
    assert "X-Amz-Signature" not in response.text and "image_url" not in response.json()
    tasks = requests.get(
        f"{site.url}/api/task",
        params={"api_key": site.keys["bob"], "project_id": site.project_id, "limit": 100},
        timeout=10,
    )
    assert tasks.status_code == 200 and "X-Amz-Signature" not in tasks.text


def sign_in(base: str, name: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(base + "/account/signin", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert token, page[:500]
    signed_in = session.post(
        base + "/account/signin",
        data={"login": name, "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    label = session.get(base + "/project/pets/label", timeout=10).text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', label)
    assert csrf, label[:500]
    return session, csrf.group(1)


def test_labeling_page_gets_the_task_and_the_look_ahead_presigned(site: Site) -> None:
    session, csrf = sign_in(site.url, "carol")
    state = session.post(
        site.url + "/project/pets/label/state",
        json={},
        headers={"X-CSRFToken": csrf},
        timeout=10,
    )
    assert state.status_code == 200, state.text
    tasks = state.json()["tasks"]
    # the task on screen and the one behind it (prefetched): both presigned, both load
    assert len(tasks) == 2
    for task in tasks:
        assert task["image"].startswith(f"/s3/{BUCKET}/pets/")
        image = requests.get(site.url + task["image"], timeout=10)
        assert image.status_code == 200 and image.content in site.images.values()
        # the image key is not repeated in the info the page shows
        assert "url" not in task["info"]


def test_logs_never_hold_a_signature(site: Site) -> None:
    url = site.newtask("alice")["image_url"]
    assert requests.get(site.url + url, timeout=10).status_code == 200
    assert requests.get(site.url + signature_changed(url), timeout=10).status_code == 403
    time.sleep(0.3)  # HAProxy logs when the response is done
    log = site.proxy.log_text()
    assert f"GET /s3/{BUCKET}/pets/" in log  # it does log the requests...
    assert "X-Amz-" not in log and "api_key" not in log  # ...without their query strings
    assert "X-Amz-" not in site.server.log.read_text()


def test_health_endpoint_is_haproxys_own(site: Site) -> None:
    response = requests.get(site.url + "/haproxy-health", timeout=10)
    assert response.status_code == 200
    # the app is behind the same port
    assert requests.get(site.url + "/healthz", timeout=10).json() == {"status": "ok"}


def test_serve_with_proxy_runs_haproxy_in_front_and_stops_both(site: Site, tmp_path: Path) -> None:
    env = {**site.s3.env(), "DATABASE_URL": site.db_url, "SECRET_KEY": "s3-proxy-test"}
    env |= {k: str(v) for k, v in site.config.items()} | {"RATELIMIT_ENABLED": "0"}
    with labelhive_server(env, workers=1, threads=2, extra_args=("--with-proxy",)) as server:
        assert requests.get(server.url + "/haproxy-health", timeout=5).status_code == 200
        task = requests.get(
            f"{server.url}/api/project/{site.project_id}/newtask",
            params={"api_key": site.keys["carol"]},
            timeout=10,
        ).json()
        image = requests.get(server.url + task["image_url"], timeout=10)
        assert image.status_code == 200 and image.content == site.images[task["info"]["key"]]
        unsigned = server.url + task["image_url"].split("?")[0]
        assert requests.get(unsigned, timeout=10).status_code == 403
        log = server.log.read_text()
        backend = re.search(r"gunicorn on 127\.0\.0\.1:(\d+)", log)
        assert backend, log
        app_port = int(backend.group(1))
        assert app_port != server.port and port_open(app_port)
    # stopped together: neither HAProxy nor gunicorn is left listening
    assert not port_open(server.port) and not port_open(app_port)


@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
def test_probe_and_scrape_endpoints_stay_inside_the_pod(site: Site, path: str) -> None:
    # through HAProxy (the Service and the Ingress): not found, whatever the method or spelling
    assert requests.get(site.url + path, timeout=10).status_code == 404
    assert requests.head(site.url + path, timeout=10).status_code == 404
    assert requests.get(site.url + path + "?x=1", timeout=10).status_code == 404
    # gunicorn's own port, where the kubelet and Prometheus connect: served
    direct = requests.get(site.server.url + path, timeout=10)
    assert direct.status_code == 200, direct.text
    assert requests.get(site.url + "/healthz", timeout=10).status_code == 200


def test_only_well_formed_presigned_urls_of_the_bucket_pass(site: Site) -> None:
    """Unsigned requests dressed up as presigned ones, and signed ones pointed elsewhere, get
    HAProxy's own 403: LocalStack (like a bucket that trusts the VPC endpoint) would serve an
    unsigned request, so nothing but a well-formed presigned URL of the bucket may reach it."""
    url = site.newtask("alice")["image_url"]
    path, _, signed = url.partition("?")
    key = path[len(f"/s3/{BUCKET}/") :]
    client = site.s3.client()
    client.create_bucket(Bucket="other-bucket")
    client.put_object(Bucket="other-bucket", Key=requests.utils.unquote(key), Body=b"other")
    port = site.proxy.port
    for name, target in hostile_s3_targets(BUCKET, key, signed).items():
        code, body = raw_get(port, target)
        assert (code, "administrative rules" in body) == (403, True), (name, target, body)
    # the bypasses above did reach S3 before: unsigned, it serves the object...
    direct = requests.get(f"{site.s3.endpoint_url}/{BUCKET}/{key}?a=;X-Amz-Signature=x", timeout=10)
    assert direct.status_code == 200 and direct.content in site.images.values()
    # ...and lists the bucket
    listing = requests.get(f"{site.s3.endpoint_url}/{BUCKET}/", timeout=10)
    assert listing.status_code == 200 and "ListBucketResult" in listing.text
    # the genuine URL, as the app made it: served
    code, _ = raw_get(port, url)
    assert code == 200
