"""Fixtures of the Pod tests: a private Docker Engine and the images its Pods run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.common.docker import DockerEngine
from tests.common.docker import Images
from tests.common.docker import docker_engine as start_docker_engine
from tests.common.docker import ensure_images


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A ``dockerd`` of this test run (persistent data-root: images survive the run)."""
    with start_docker_engine() as engine:
        yield engine


@pytest.fixture(scope="session")
def pod_images(docker_engine: DockerEngine) -> Images:
    """The app, operator, HAProxy and Redis images, built by scripts/build-images if stale."""
    return ensure_images(docker_engine)
