"""PYBOSSA's own clients against a real LabelHive (gunicorn + PostgreSQL).

``pybossa-client`` 3.0.0 and ``pybossa-pbs`` 3.0.0 live in ``.venv-pybossa`` (``make test``
builds it from ``tests/requirements-pybossa.txt``; pbs pins click 7, which the app's Flask
cannot use). The tests run them as child processes: ``pbs`` as its command line, ``pbclient``
through ``clients/run_pbclient.py``, which calls its public functions.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.common.processes import LabelhiveServer
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-pybossa"
CLIENTS = Path(__file__).parent / "clients"
# the main suite must never be throttled; tests/compat/test_throttle.py sets a low limit
UNTHROTTLED = "100000 per 60 seconds"


def require_clients() -> None:
    if not (VENV / "bin" / "pbs").exists():
        raise RuntimeError(
            f"{VENV} has no pbs: run `make test` (or `make .venv-pybossa/.installed`)"
        )


@dataclasses.dataclass
class Compat:
    """A running LabelHive and the API keys of its users."""

    server: LabelhiveServer
    keys: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def pbclient(self, user: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run pbclient calls as ``user``; one ``{"ok": ..}`` or ``{"raised": ..}`` per step."""
        spec = {"endpoint": self.url, "api_key": self.keys[user], "steps": steps}
        done = subprocess.run(
            [str(VENV / "bin" / "python"), str(CLIENTS / "run_pbclient.py")],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    def ok(self, user: str, steps: list[dict[str, Any]]) -> list[Any]:
        """Like :meth:`pbclient`, failing on any raised exception; returns the values."""
        results = self.pbclient(user, steps)
        raised = [r for r in results if "raised" in r]
        assert not raised, raised
        return [r["ok"] for r in results]

    def pbs(
        self,
        user: str | None,
        workdir: Path,
        *args: str,
        answer: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``pbs`` command line in ``workdir`` (where its project.json is)."""
        command = [str(VENV / "bin" / "pbs"), "--server", self.url]
        if user is not None:
            command += ["--api-key", self.keys[user]]
        # HOME: no ~/.pybossa.cfg from the machine running the tests
        env = {**os.environ, "HOME": str(workdir), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        return subprocess.run(
            [*command, *args],
            cwd=workdir,
            env=env,
            input=answer,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def api(self, user: str | None, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A direct call, to check what the clients did."""
        headers = {"Authorization": self.keys[user]} if user else {}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)


def start(pg_server: PostgresServer, name: str, **env: str) -> Iterator[Compat]:
    require_clients()
    url = pg_server.create_database(name)
    base = {"DATABASE_URL": url, "SECRET_KEY": "compat-tests", **env}
    labelhive_cli("db", "upgrade", env=base)
    keys: dict[str, str] = {}
    # the first user becomes admin
    for user in ("admin", "owner", "other"):
        line = labelhive_cli("users", "create", user, env=base).stdout.split()
        keys[line[0]] = line[1]
    with labelhive_server(base, workers=1, threads=8) as server:
        yield Compat(server, keys)


@pytest.fixture(scope="session")
def compat(pg_server: PostgresServer) -> Iterator[Compat]:
    """One server for the pbclient and pbs suites (their projects' short names differ)."""
    yield from start(pg_server, "compat", RATELIMIT_API=UNTHROTTLED)
