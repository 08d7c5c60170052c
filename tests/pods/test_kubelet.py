"""The test kubelet against a real Docker Engine: each test is a kubelet rule that a manifest can
break, checked on running containers."""

from __future__ import annotations

import base64
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.pods.kubelet import Kubelet

#: the Debian base the images are built on (sh, coreutils, python3, getent, hostname)
IMAGE = "labelhive/python-base:3.11-bookworm"
LABEL = "io.labelhive.test-kubelet"


def fetch(url: str) -> list[str]:
    """A command that GETs ``url`` inside a container and fails on an error (no curl there)."""
    return [
        "python3",
        "-c",
        f"import urllib.request as u; print(u.urlopen({url!r}).read().decode())",
    ]


@pytest.fixture(scope="module")
def docker_client(docker_engine: Any, pod_images: Any) -> docker.DockerClient:
    """The tests' private Docker Engine, with the base image (``pod_images`` builds it)."""
    return docker_engine.client


@pytest.fixture
def kubelet(docker_client: docker.DockerClient) -> Iterator[Kubelet]:
    with Kubelet(docker_client, namespace="lh", max_grace=1.0) as kubelet:
        yield kubelet


def deployment(
    name: str, containers: list[dict], replicas: int = 1, init: list[dict] | None = None, **pod: Any
) -> dict:
    labels = {"app": name}
    spec: dict[str, Any] = {"containers": containers, **pod}
    if init:
        spec["initContainers"] = init
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def http_server(
    name: str, bind: str, port: int, probe_port: int | str = "http", **extra: Any
) -> dict:
    return {
        "name": name,
        "image": IMAGE,
        "command": ["python3", "-m", "http.server", "--bind", bind, str(port)],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": "/", "port": probe_port}, "periodSeconds": 1},
        **extra,
    }


def sleeper(name: str, **extra: Any) -> dict:
    return {"name": name, "image": IMAGE, "command": ["sleep", "infinity"], **extra}


def service(name: str, selector: dict, port: int, target: int | str, **spec: Any) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": target}],
            **spec,
        },
    }


def test_probe_goes_to_the_pod_ip_so_a_loopback_server_never_gets_ready(kubelet: Kubelet) -> None:
    kubelet.apply(
        [
            deployment("loopback", [http_server("web", "127.0.0.1", 8000)]),
            deployment("anyaddr", [http_server("web", "0.0.0.0", 8000)]),
        ]
    )
    kubelet.wait_ready("Deployment/anyaddr", timeout=30)
    (stuck,) = kubelet.pods("Deployment/loopback")
    # the server does run and answers on loopback: only the kubelet's view differs
    kubelet.wait_for(
        lambda: kubelet.exec(stuck.name, "web", fetch("http://127.0.0.1:8000/"))[0] == 0,
        timeout=15,
        what="the loopback server to answer inside its Pod",
    )
    kubelet.wait_for(
        lambda: len(kubelet.events("Unhealthy", f"Pod/{stuck.name}")) >= 3,
        timeout=15,
        what="three failed readiness probes",
    )
    assert not kubelet.pod(stuck.name).ready
    assert kubelet.pod(stuck.name).ready_seconds is None
    message = kubelet.events("Unhealthy", f"Pod/{stuck.name}")[-1].message
    assert f"http://{stuck.ip}:8000/" in message


def test_containers_share_localhost_but_probe_port_names_are_per_container(
    kubelet: Kubelet,
) -> None:
    server = http_server("server", "127.0.0.1", 8000, probe_port=8000)
    server.pop("readinessProbe")
    client = sleeper(
        "client", readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}
    )
    kubelet.apply([deployment("pair", [server, client])])
    (pod,) = kubelet.wait_for(
        lambda: [p for p in kubelet.pods("Deployment/pair") if p.phase == "Running"], timeout=30
    )
    code, out = kubelet.wait_for(
        lambda: (
            (r := kubelet.exec(pod.name, "client", fetch("http://localhost:8000/")))[0] == 0 and r
        ),
        timeout=15,
        what="client → server over localhost",
    )
    assert "Directory listing" in out
    kubelet.wait_for(lambda: kubelet.events("Unhealthy", f"Pod/{pod.name}"), timeout=10)
    messages = {e.message for e in kubelet.events("Unhealthy", f"Pod/{pod.name}")}
    assert any("couldn't find port 'http' in container 'client'" in m for m in messages)
    info = kubelet.pod(pod.name)
    assert info.container("server").ready and not info.container("client").ready
    assert not info.ready


def test_named_target_port_on_a_native_sidecar_gets_no_endpoint(kubelet: Kubelet) -> None:
    proxy = http_server("proxy", "0.0.0.0", 8080, restartPolicy="Always")
    labels = {"app": "web"}
    kubelet.apply(
        [
            deployment("web", [sleeper("app")], init=[proxy]),
            deployment("probe", [sleeper("shell")]),
            service("web-named", labels, 8080, "http"),
            service("web-number", labels, 8080, 8080),
            service("web-mapped", labels, 80, 8080),
        ]
    )
    (pod,) = kubelet.wait_ready("Deployment/web", timeout=30)
    (shell,) = kubelet.wait_ready("Deployment/probe", timeout=30)
    kubelet.wait_for(lambda: kubelet.endpoints("web-number").get("http"), timeout=10)
    assert kubelet.endpoints("web-named") == {}
    (error,) = kubelet.events("NamedPortOnSidecar", "Service/web-named")
    assert "'proxy'" in error.message
    assert kubelet.events("ServicePortMismatch", "Service/web-mapped")
    url = kubelet.service_url("web-number", 8080)
    assert url == f"http://{pod.ip}:8080"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a test Pod
        assert response.status == 200
    for name in ("web-number", "web-number.lh", "web-number.lh.svc.cluster.local"):
        code, out = kubelet.exec(shell.name, "shell", ["getent", "hosts", name])
        assert code == 0 and out.split()[0] == pod.ip, (name, out)
    code, _ = kubelet.exec(shell.name, "shell", ["getent", "hosts", "web-named"])
    assert code != 0
    with pytest.raises(LookupError):
        kubelet.service_url("web-named", 8080)


def test_secret_env_and_missing_key(kubelet: Kubelet, docker_client: docker.DockerClient) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "data": {"token": base64.b64encode(b"s3cr3t").decode()},
    }
    env = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "GREETING", "value": "token=$(TOKEN)"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    good = sleeper("app", env=env, command=["sh", "-c", "echo $(GREETING) $POD; sleep infinity"])
    missing = sleeper(
        "app", env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}}]
    )
    optional = sleeper(
        "app",
        env=[
            {
                "name": "X",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope", "optional": True}},
            }
        ],
    )
    kubelet.apply(
        [
            secret,
            deployment("good", [good]),
            deployment("bad", [missing]),
            deployment("opt", [optional]),
        ]
    )
    (pod,) = kubelet.wait_ready("Deployment/good", timeout=30)
    kubelet.wait_ready("Deployment/opt", timeout=30)
    kubelet.wait_for(lambda: "token=" in kubelet.logs(pod.name, "app"), timeout=10)
    assert kubelet.logs(pod.name, "app").strip() == f"token=s3cr3t {pod.name}"
    assert re.fullmatch(r"good-[b-z2-9]{10}-[b-z2-9]{5}", pod.name)
    (bad,) = kubelet.pods("Deployment/bad")
    kubelet.wait_for(
        lambda: kubelet.pod(bad.name).container("app").reason == "CreateContainerConfigError",
        timeout=15,
    )
    (event,) = kubelet.events("CreateContainerConfigError", f"Pod/{bad.name}")
    assert "couldn't find key nope in Secret creds" in event.message
    assert not docker_client.containers.list(
        all=True, filters={"label": f"io.kubernetes.pod.name={bad.name}", "name": f"{bad.name}-app"}
    )
    assert not kubelet.pod(bad.name).ready


def test_security_context(kubelet: Kubelet) -> None:
    secure = sleeper(
        "app",
        securityContext={
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}],
    )
    tmp = [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]
    root = sleeper("app", securityContext={"runAsNonRoot": True})
    kubelet.apply(
        [
            deployment("secure", [secure], volumes=tmp, securityContext={"fsGroup": 2000}),
            deployment("root", [root]),
        ]
    )
    (pod,) = kubelet.wait_ready("Deployment/secure", timeout=30)
    assert kubelet.exec(pod.name, "app", ["id", "-u"]) == (0, "1000\n")
    assert "2000" in kubelet.exec(pod.name, "app", ["id", "-G"])[1].split()
    assert kubelet.exec(pod.name, "app", ["sh", "-c", "echo x > /tmp/ok"])[0] == 0
    code, out = kubelet.exec(pod.name, "app", ["sh", "-c", "echo x > /etc/nope"])
    assert code != 0 and "Read-only file system" in out
    # the emptyDir is a tmpfs of sizeLimit, group fsGroup
    code, out = kubelet.exec(pod.name, "app", ["sh", "-c", "head -c 2000000 /dev/zero > /tmp/big"])
    assert code != 0 and "No space left" in out
    assert kubelet.exec(pod.name, "app", ["stat", "-c", "%g", "/tmp"])[1].strip() == "2000"
    code, out = kubelet.exec(pod.name, "app", ["grep", "^CapEff", "/proc/self/status"])
    assert out.split()[1] == "0000000000000000"
    (refused,) = kubelet.pods("Deployment/root")
    kubelet.wait_for(
        lambda: kubelet.events("CreateContainerConfigError", f"Pod/{refused.name}"), timeout=15
    )
    assert (
        "image will run as root"
        in kubelet.events("CreateContainerConfigError", f"Pod/{refused.name}")[0].message
    )


def test_init_containers_then_sidecar_then_main(kubelet: Kubelet) -> None:
    mount = [{"name": "work", "mountPath": "/work"}]
    sidecar = {
        "name": "side",
        "image": IMAGE,
        "restartPolicy": "Always",
        "volumeMounts": mount,
        "command": [
            "sh",
            "-c",
            "sleep 1; echo side >> /work/order; touch /work/up; exec sleep infinity",
        ],
        "startupProbe": {"exec": {"command": ["test", "-f", "/work/up"]}, "periodSeconds": 1},
    }
    init = [
        {
            "name": "first",
            "image": IMAGE,
            "volumeMounts": mount,
            "command": ["sh", "-c", "echo first >> /work/order"],
        },
        sidecar,
        {
            "name": "second",
            "image": IMAGE,
            "volumeMounts": mount,
            "command": ["sh", "-c", "test -f /work/up && echo second >> /work/order"],
        },
    ]
    main = sleeper(
        "main",
        volumeMounts=mount,
        command=["sh", "-c", "echo main >> /work/order; exec sleep infinity"],
    )
    kubelet.apply(
        [deployment("ordered", [main], init=init, volumes=[{"name": "work", "emptyDir": {}}])]
    )
    (pod,) = kubelet.wait_ready("Deployment/ordered", timeout=30)
    kubelet.wait_for(
        lambda: "main" in kubelet.exec(pod.name, "main", ["cat", "/work/order"])[1], timeout=10
    )
    assert kubelet.exec(pod.name, "main", ["cat", "/work/order"])[1].split() == [
        "first",
        "side",
        "second",
        "main",
    ]
    info = kubelet.pod(pod.name)
    assert info.container("first").state == "terminated"
    assert info.container("first").exit_code == 0
    assert info.container("side").kind == "sidecar" and info.container("side").ready


def job(name: str, script: str, backoff_limit: int = 6) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "run", "image": IMAGE, "command": ["sh", "-c", script]}
                    ],
                }
            },
        },
    }


def test_jobs_succeed_or_fail_after_backoff_limit(kubelet: Kubelet) -> None:
    kubelet.apply([job("ok", "echo migrated"), job("broken", "echo no; exit 3", backoff_limit=1)])
    assert kubelet.wait_job("ok", timeout=30) == "Succeeded"
    (done,) = kubelet.pods("Job/ok")
    assert done.phase == "Succeeded" and re.fullmatch(r"ok-[b-z2-9]{5}", done.name)
    assert kubelet.logs(done.name, "run") == "migrated\n"
    assert kubelet.wait_job("broken", timeout=30) == "Failed"
    failed = kubelet.pods("Job/broken")
    assert [p.phase for p in failed] == ["Failed", "Failed"]  # the first try + 1 retry
    assert all(p.container("run").exit_code == 3 for p in failed)
    assert kubelet.events("BackoffLimitExceeded", "Job/broken")


def test_statefulset_pods_resolve_each_other_and_keep_their_volume(kubelet: Kubelet) -> None:
    labels = {"app": "db"}
    container = http_server(
        "db", "0.0.0.0", 7000, volumeMounts=[{"name": "data", "mountPath": "/data"}]
    )
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    kubelet.apply([sts, service("db", labels, 7000, "http", clusterIP="None")])
    db0, db1 = kubelet.wait_ready("StatefulSet/db", timeout=40)
    assert (db0.name, db1.name) == ("db-0", "db-1")
    assert db1.ready_seconds is not None
    for name in ("db-0.db", "db-0.db.lh.svc.cluster.local"):
        code, out = kubelet.exec("db-1", "db", ["getent", "hosts", name])
        assert code == 0 and out.split()[0] == db0.ip, (name, out)
    assert kubelet.exec("db-1", "db", ["hostname"])[1].strip() == "db-1"
    fqdn = kubelet.exec("db-1", "db", ["hostname", "-f"])[1].strip()
    assert fqdn == "db-1.db.lh.svc.cluster.local"
    addresses = kubelet.exec("db-1", "db", ["getent", "ahostsv4", "db"])[1]
    assert {db0.ip, db1.ip} <= set(addresses.split())
    # the claim outlives the Pod: a killed db-0 comes back as db-0 with its data
    assert kubelet.exec("db-0", "db", ["sh", "-c", "echo kept > /data/file"])[0] == 0
    kubelet.kill("db-0")
    kubelet.wait_for(
        lambda: len(kubelet.events("Scheduled", "Pod/db-0")) == 2,
        timeout=20,
        what="db-0 to be created again",
    )
    kubelet.wait_ready("StatefulSet/db", timeout=30)
    assert kubelet.exec("db-0", "db", ["cat", "/data/file"]) == (0, "kept\n")


def test_liveness_failure_restarts_the_container(kubelet: Kubelet) -> None:
    app = sleeper(
        "app",
        command=["sh", "-c", "echo started; touch /tmp/alive; exec sleep 1000"],
        livenessProbe={
            "exec": {"command": ["test", "-f", "/tmp/alive"]},
            "periodSeconds": 1,
            "failureThreshold": 2,
        },
    )
    kubelet.apply([deployment("live", [app])])
    (pod,) = kubelet.wait_ready("Deployment/live", timeout=30)
    assert pod.restarts == 0
    kubelet.exec(pod.name, "app", ["rm", "/tmp/alive"])
    kubelet.wait_for(lambda: kubelet.pod(pod.name).restarts == 1, timeout=20)
    kubelet.wait_ready("Deployment/live", timeout=20)
    # a new container (fresh writable layer), same Pod
    assert kubelet.exec(pod.name, "app", ["test", "-f", "/tmp/alive"])[0] == 0
    assert kubelet.logs(pod.name, "app", previous=True) == "started\n"
    assert kubelet.events("Killing", f"Pod/{pod.name}")
    # a crash (SIGKILL of the container) is restarted too
    kubelet.kill(pod.name, "app")
    kubelet.wait_for(lambda: kubelet.pod(pod.name).restarts == 2, timeout=20)
    assert kubelet.pod(pod.name).name == pod.name


def test_scale_and_a_killed_pod_is_replaced(kubelet: Kubelet) -> None:
    kubelet.apply([deployment("workers", [sleeper("worker")])])
    (first,) = kubelet.wait_ready("Deployment/workers", timeout=30)
    kubelet.scale("Deployment/workers", 3)
    pods = kubelet.wait_ready("Deployment/workers", timeout=30)
    assert len({p.name for p in pods}) == 3 and first.name in {p.name for p in pods}
    kubelet.scale("Deployment/workers", 1)
    (left,) = kubelet.wait_ready("Deployment/workers", timeout=30)
    kubelet.kill(left.name)
    (replacement,) = kubelet.wait_for(
        lambda: [
            p for p in kubelet.wait_ready("Deployment/workers", timeout=30) if p.name != left.name
        ],
        timeout=30,
    )
    assert replacement.name.startswith(f"workers-{left.revision}-")


def test_changed_template_rolls_the_pods(kubelet: Kubelet) -> None:
    manifest = deployment("roll", [sleeper("app")], replicas=2)
    kubelet.apply([manifest])
    old = {p.name for p in kubelet.wait_ready("Deployment/roll", timeout=30)}
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "V", "value": "2"}]
    kubelet.apply([manifest])
    new = kubelet.wait_ready("Deployment/roll", timeout=40)
    assert len(new) == 2 and not old & {p.name for p in new}
    assert kubelet.exec(new[0].name, "app", ["printenv", "V"]) == (0, "2\n")


def test_close_leaves_nothing_behind(docker_client: docker.DockerClient) -> None:
    kubelet = Kubelet(docker_client, max_grace=1.0)
    kubelet.apply(
        [deployment("tmp", [sleeper("app")], volumes=[{"name": "scratch", "emptyDir": {}}])]
    )
    kubelet.wait_ready("Deployment/tmp", timeout=30)
    label = f"{LABEL}={kubelet.session}"
    assert docker_client.containers.list(filters={"label": label})
    kubelet.close()
    assert not docker_client.containers.list(all=True, filters={"label": label})
    assert not docker_client.volumes.list(filters={"label": label})
    assert not docker_client.networks.list(names=[kubelet.network])


def test_a_deleted_pod_leaves_the_endpoints_then_runs_its_prestop_before_sigterm(
    docker_client: docker.DockerClient,
) -> None:
    with Kubelet(docker_client, namespace="lh", max_grace=15.0) as kubelet:
        server = http_server(
            "web",
            "0.0.0.0",
            8000,
            lifecycle={"preStop": {"exec": {"command": ["sleep", "10"]}}},
        )
        kubelet.apply(
            [deployment("drain", [server]), service("drain", {"app": "drain"}, 8000, 8000)]
        )
        (pod,) = kubelet.wait_ready("Deployment/drain", timeout=30)
        assert kubelet.service_url("drain", 8000) == f"http://{pod.ip}:8000"
        kubelet.delete_pod(pod.name)
        # out of the Service at once, while its server still answers (the preStop sleep)
        kubelet.wait_for(
            lambda: not any(e.ready for es in kubelet.endpoints("drain").values() for e in es),
            timeout=5,
            what="the endpoint to go",
        )
        with urllib.request.urlopen(f"http://{pod.ip}:8000/", timeout=5) as answer:
            assert answer.status == 200


SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# inside a Pod: the API server found from the kubelet's variables and by the Service's DNS name,
# with the mounted token and CA; prints the namespace file and three HTTP statuses
API_CLIENT = f"""
import os, ssl, urllib.error, urllib.request
d = {SA_DIR!r}
token = open(d + "/token").read()
ns = open(d + "/namespace").read()
ctx = ssl.create_default_context(cafile=d + "/ca.crt")
def get(host, path):
    auth = {{"Authorization": "Bearer " + token}}
    req = urllib.request.Request("https://" + host + path, headers=auth)
    try:
        return urllib.request.urlopen(req, context=ctx, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
env = os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"]
print(ns, get(env, "/api/v1/namespaces/" + ns + "/configmaps"),
      get(env, "/api/v1/namespaces/" + ns + "/secrets"),
      get("kubernetes.default.svc", "/api/v1/namespaces/" + ns + "/configmaps"))
"""


def rbac_for(account: str) -> list[dict]:
    """A ServiceAccount allowed to list ConfigMaps in its namespace (not Secrets)."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": account},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account}],
        },
    ]


def test_service_account_token_and_api_address_as_a_kubelet_gives_them(
    kubelet: Kubelet,
) -> None:
    """Not covered: signed, audience-bound, expiring tokens (here random strings) and the API
    server's admission; the API server is the emulator of tests/pods/apiserver.py."""
    from tests.pods.apiserver import ApiServer
    from tests.pods.kubelet import ApiEndpoint

    with ApiServer(kubelet.gateway, kubelet.identity, kubelet.objects, "lh") as api:
        kubelet.connect(ApiEndpoint(api.host, api.port, api.tls.ca_pem))
        quiet = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "quiet"}}
        kubelet.apply(
            [
                *rbac_for("reader"),
                {**quiet, "automountServiceAccountToken": False},
                deployment("reader", [sleeper("app")], serviceAccountName="reader"),
                # the ServiceAccount says no; the Pod's own field wins over it
                deployment("quiet", [sleeper("app")], serviceAccountName="quiet"),
                deployment(
                    "insists",
                    [sleeper("app")],
                    serviceAccountName="quiet",
                    automountServiceAccountToken=True,
                ),
                deployment("ghost", [sleeper("app")], serviceAccountName="missing"),
            ]
        )
        for name in ("reader", "quiet", "insists"):
            kubelet.wait_ready(f"Deployment/{name}", timeout=30)
        (reader,) = kubelet.pods("Deployment/reader")
        code, out = kubelet.exec(reader.name, "app", ["python3", "-c", API_CLIENT])
        # RBAC of its own account: ConfigMaps yes, Secrets no; the certificate names both
        assert (code, out.split()) == (0, ["lh", "200", "403", "200"]), out
        assert api.users() == {"system:serviceaccount:lh:reader"}
        code, out = kubelet.exec(reader.name, "app", ["touch", f"{SA_DIR}/token"])
        assert code != 0 and "Read-only file system" in out
        (quiet_pod,) = kubelet.pods("Deployment/quiet")
        # no token, but the address all the same (a kubelet injects it into every container)
        assert kubelet.exec(quiet_pod.name, "app", ["test", "-e", SA_DIR])[0] == 1
        code, out = kubelet.exec(quiet_pod.name, "app", ["printenv", "KUBERNETES_SERVICE_HOST"])
        assert (code, out.strip()) == (0, api.host)
        (insists,) = kubelet.pods("Deployment/insists")
        assert kubelet.exec(insists.name, "app", ["test", "-s", f"{SA_DIR}/token"])[0] == 0
        # a Pod of a ServiceAccount that does not exist is refused at admission
        assert kubelet.pods("Deployment/ghost") == []
        (refused,) = kubelet.events("FailedCreate", "Deployment/ghost")
        assert 'serviceaccount "missing" not found' in refused.message
        # a token the kubelet never issued is not anyone's
        assert kubelet.identity("made-up") is None
