"""The release workflow (.github/workflows/release.yml) only names what exists, in the right order.

It runs only on GitHub, on a pushed tag: it needs ghcr.io, GitHub's OIDC token and Sigstore's
services. What it runs is tested here: ``make release`` is scripts/build-images with ``PUSH=1``
(tests/docker/test_image_digests.py pushes to a real registry) and scripts/sign-images (the same
file, against a cosign stand-in); the SBOMs are the images' own (tests/pods/test_sbom.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
CI = ROOT / ".github" / "workflows" / "ci.yml"


def workflow() -> dict[str, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True
    doc["on"] = doc.pop(True)
    return doc


def recipe(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.M)
    assert match, target
    return [line[1:] for line in match[1].splitlines()]


def test_actions_are_pinned_by_sha_and_the_same_as_ci() -> None:
    pins = re.findall(r"uses: (\S+)(.*)$", WORKFLOW.read_text(), re.M)
    assert pins
    for ref, comment in pins:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r" # v\d+(\.\d+)*", comment), (ref, comment)
    # an action both workflows use is pinned to the same commit in both
    ci = dict(re.findall(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})", CI.read_text()))
    for ref, _ in pins:
        action, sha = ref.split("@")
        assert ci.get(action, sha) == sha, action


def test_a_tag_releases_with_only_the_rights_signing_needs() -> None:
    doc = workflow()
    assert doc["on"] == {"push": {"tags": ["v*"]}}
    assert doc["permissions"] == {"contents": "read"}
    (job,) = doc["jobs"].values()
    assert job["permissions"] == {"contents": "write", "packages": "write", "id-token": "write"}
    steps = job["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    runs = [s.get("run") for s in steps]
    # cosign is there before the release signs
    assert uses.index("sigstore/cosign-installer") < runs.index("make release")
    (release,) = [s for s in steps if s.get("run") == "make release"]
    # the base by digest, resolved before the build (scripts/build-images takes $BASE)
    (pin,) = [s for s in steps if s.get("name") == "pin the base image"]
    assert steps.index(pin) < steps.index(release)
    assert "ARG BASE=" in (ROOT / "docker" / "app.Dockerfile").read_text()
    assert "{{index .RepoDigests 0}}" in pin["run"] and '"BASE=' in pin["run"]
    assert "base=${BASE:-}" in (ROOT / "scripts" / "build-images").read_text()
    assert release["env"]["RELEASE_TAG"] == "${{ github.ref_name }}"
    # verified against this very workflow at this very tag, as a user verifies it
    assert release["env"]["CERTIFICATE_IDENTITY"] == "https://github.com/${{ github.workflow_ref }}"
    assert (
        release["env"]["CERTIFICATE_OIDC_ISSUER"] == "https://token.actions.githubusercontent.com"
    )
    # the token reaches docker login by the environment, never inline in the command
    (login,) = [
        s for s in steps if (s.get("run") or "").startswith('echo "$GH_TOKEN" | docker login')
    ]
    assert "--password-stdin" in login["run"] and "${{" not in login["run"]


def test_make_release_pushes_signs_and_publishes_the_files_the_scripts_write() -> None:
    lines = recipe("release")
    (build,) = [ln for ln in lines if "scripts/build-images" in ln]
    assert "PUSH=1 scripts/build-images app operator > build/release/images.txt" in build
    assert "scripts/sign-images build/release/images.txt" in lines
    (gh,) = [
        s for s in workflow()["jobs"]["images"]["steps"] if s.get("name") == "gh release create"
    ]
    assets = gh["run"].split()[-3:]
    build_images = (ROOT / "scripts" / "build-images").read_text()
    sign_images = (ROOT / "scripts" / "sign-images").read_text()
    assert "SBOM_DIR=build/sbom" in build_images
    assert 'SBOM_DIR/$name.cdx.json"' in build_images
    assert "SBOM_DIR=${SBOM_DIR:-build/sbom}" in sign_images
    assert assets == [
        "build/sbom/app.cdx.json",
        "build/sbom/operator.cdx.json",
        "build/release/images.txt",
    ]


def test_a_tag_that_is_not_the_version_releases_nothing() -> None:
    version = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version
    result = subprocess.run(
        ["make", "--no-print-directory", "release", "RELEASE_TAG=v0.0.0-not-this"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert (
        f"release: the tag v0.0.0-not-this is not v{version[1]}, the version in pyproject.toml"
        in result.stderr
    )
    # stopped before building or pushing anything
    assert "build-images" not in result.stdout + result.stderr
