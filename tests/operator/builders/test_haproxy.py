"""The web Pod's HAProxy runs the project's own ``haproxy/haproxy.cfg`` with every variable set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from labelhive.storage import proxy
from labelhive_operator import settings
from labelhive_operator.builders import haproxy_cfg
from labelhive_operator.builders import web
from labelhive_operator.render import render_project
from labelhive_operator.spec import Project
from tests.operator.conftest import load_example

ROOT = Path(__file__).resolve().parents[3]
HAPROXY_CFG = ROOT / "haproxy" / "haproxy.cfg"
#: variables that stay unset without spec.storage (the file then refuses the whole S3 prefix)
S3_ONLY = {
    "S3_UPSTREAM",
    "S3_UPSTREAM_HOST",
    "S3_UPSTREAM_SNI",
    "S3_UPSTREAM_CA_FILE",
    "S3_PROXY_BUCKETS",
}


def strip_comments(text: str) -> str:
    """Drop HAProxy comments: ``#`` outside double quotes up to the end of the line."""
    lines = []
    for line in text.splitlines():
        quoted = False
        for i, ch in enumerate(line):
            if ch == '"':
                quoted = not quoted
            elif ch == "#" and not quoted:
                line = line[:i]
                break
        lines.append(line)
    return "\n".join(lines)


def referenced_variables(text: str) -> set[str]:
    """Every environment variable a haproxy.cfg reads: ``${VAR}``, ``"$VAR"``, ``defined(VAR)``."""
    text = strip_comments(text)
    found = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    found |= set(re.findall(r"\"\$([A-Za-z_][A-Za-z0-9_]*)\"", text))
    found |= set(re.findall(r"\bdefined\(([A-Za-z_][A-Za-z0-9_]*)\)", text))
    return found


def _body(example: str, **storage: Any) -> dict[str, Any]:
    body = load_example(example)
    body["metadata"]["uid"] = "u-1"
    if storage:
        body["spec"]["storage"] = {**body["spec"].get("storage", {}), **storage}
    return body


def _web_pod(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the web Deployment's pod spec and the HAProxy ConfigMap."""
    objs = {(o["kind"], o["metadata"]["name"]): o for o in render_project(body)}
    name = body["metadata"]["name"]
    pod = objs[("Deployment", f"{name}-web")]["spec"]["template"]["spec"]
    return pod, objs[("ConfigMap", f"{name}-haproxy")]


def _sidecar_env(pod: dict[str, Any]) -> dict[str, str]:
    (sidecar,) = [c for c in pod["initContainers"] if c["name"] == "haproxy"]
    return {e["name"]: e["value"] for e in sidecar["env"]}


def test_the_embedded_file_is_haproxy_cfg_byte_for_byte() -> None:
    assert haproxy_cfg.TEXT.encode("utf-8") == HAPROXY_CFG.read_bytes(), (
        "haproxy/haproxy.cfg changed: copy it into "
        "operator/labelhive_operator/builders/haproxy_cfg.py (TEXT)"
    )


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_the_configmap_carries_the_project_file(example: str) -> None:
    pod, configmap = _web_pod(_body(example))
    assert configmap["data"] == {"haproxy.cfg": HAPROXY_CFG.read_text(encoding="utf-8")}
    (volume,) = [v for v in pod["volumes"] if v["name"] == "haproxy-config"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]


def test_the_variable_scan_finds_every_form() -> None:
    text = 'bind "${A-:1}"\nserver s "$B" x\n.elif defined(C)\nset-header Host "${D}"\n'
    assert referenced_variables(text) == {"A", "B", "C", "D"}
    # comments are not read; a quoted "#" is not a comment
    assert referenced_variables('# uses ${X}\nbind ":1" # ${Y}\nacl a "#${Z}"\n') == {"Z"}
    assert len(referenced_variables(HAPROXY_CFG.read_text())) >= 8


@pytest.mark.parametrize(
    "storage",
    [
        {},  # full.yaml: an https VPC endpoint
        {"endpointURL": "http://localstack.labelhive.svc:4566"},
        {"endpointURL": "https://minio.example.com:9443"},
        {"endpointURL": None, "region": "eu-central-1"},  # AWS's regional endpoint
    ],
    ids=["vpce", "http-port", "https-port", "regional"],
)
def test_every_variable_the_file_reads_is_set_on_the_sidecar(storage: dict[str, Any]) -> None:
    body = _body("full", **storage)
    if storage.get("endpointURL", "") is None:
        del body["spec"]["storage"]["endpointURL"]
    pod, configmap = _web_pod(body)
    env = _sidecar_env(pod)
    assert referenced_variables(configmap["data"]["haproxy.cfg"]) - set(env) == set()
    assert env["HAPROXY_LISTEN"] == f":{settings.HAPROXY_PORT}"
    assert env["HAPROXY_APP"] == f"127.0.0.1:{settings.GUNICORN_PORT}"
    (gunicorn,) = pod["containers"]
    assert gunicorn["ports"][0]["containerPort"] == settings.GUNICORN_PORT
    (sidecar,) = pod["initContainers"]
    assert sidecar["ports"][0]["containerPort"] == settings.HAPROXY_PORT
    # the same values `labelhive serve --with-proxy` computes from the app's own settings
    app_env = {e["name"]: e.get("value") for e in gunicorn["env"] if "value" in e}
    expected = proxy.haproxy_env(
        app_env,
        listen=f":{settings.HAPROXY_PORT}",
        app=f"127.0.0.1:{settings.GUNICORN_PORT}",
        ca_file="@system-ca",
    )
    assert env == expected


def test_without_storage_there_is_no_s3_upstream() -> None:
    pod, configmap = _web_pod(_body("minimal"))
    env = _sidecar_env(pod)
    # an unset S3_UPSTREAM is how the file turns the S3 backend off (`.elif defined(...)`)
    assert "S3_UPSTREAM" not in env
    assert referenced_variables(configmap["data"]["haproxy.cfg"]) - set(env) == S3_ONLY
    assert env["S3_PROXY_PREFIX"] == "/s3" and env["S3_UPSTREAM_TLS"] == "0"


def test_the_proxy_prefix_follows_the_spec() -> None:
    env = _sidecar_env(_web_pod(_body("full", proxyPrefix="/images/"))[0])
    assert env["S3_PROXY_PREFIX"] == "/images"
    project = Project.from_body(_body("full", proxyPrefix="/images/"))
    assert web.haproxy_env(project) == [
        {"name": k, "value": v} for k, v in env.items()
    ]  # the builder is the one source of the sidecar's env


def test_the_probes_match_the_file() -> None:
    pod, configmap = _web_pod(_body("minimal"))
    text = strip_comments(configmap["data"]["haproxy.cfg"])
    (sidecar,) = pod["initContainers"]
    probe = sidecar["readinessProbe"]["httpGet"]
    # the sidecar's readiness is answered by HAProxy itself, on the port it binds
    assert f"monitor-uri {probe['path']}" in text and probe["port"] == "http"
    assert 'bind "${HAPROXY_LISTEN-:8080}"' in text
    assert sidecar["args"][-1] == "/usr/local/etc/haproxy/haproxy.cfg"
    (mount,) = [m for m in sidecar["volumeMounts"] if m["name"] == "haproxy-config"]
    assert mount["mountPath"] == "/usr/local/etc/haproxy" and mount["readOnly"] is True
