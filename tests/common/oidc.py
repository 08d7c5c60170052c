"""A real OpenID provider for the sign-in tests: the `oidc-provider` npm package on Node.js.

The package is installed from the npm registry into a cache directory outside the repository
(``LABELHIVE_TEST_NODE_CACHE``, default ``~/.cache/labelhive/oidc-provider``) by
``python -m tests.common.oidc install`` (what ``make test`` runs) or, when missing, by the
fixture itself. ``server.mjs`` next to this file adds a login page and test controls to the
provider; see its header.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from tests.common.processes import free_port
from tests.common.processes import port_open
from tests.common.processes import stop_pid
from tests.common.processes import wait_for

SOURCE = Path(__file__).with_name("oidc_provider")
CLIENT_ID = "labelhive"
CLIENT_SECRET = "test-client-secret-not-for-production-1234"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "labelhive" / "oidc-provider"
    return Path(os.environ.get("LABELHIVE_TEST_NODE_CACHE") or default)


def install() -> Path:
    """Install the provider's npm packages into the cache directory, when not there yet."""
    target = cache_dir()
    wanted = (SOURCE / "package.json").read_text()
    stamp = target / ".installed-package.json"
    if stamp.exists() and stamp.read_text() == wanted and (target / "node_modules").is_dir():
        return target
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("Node.js and npm are needed: apt-get install nodejs npm")
    target.mkdir(parents=True, exist_ok=True)
    (target / "package.json").write_text(wanted)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=target,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(wanted)
    return target


class OpenIDProvider:
    """A running provider: its issuer URL, and the test controls of ``server.mjs``."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET

    def set_accounts(self, accounts: dict[str, dict[str, Any]]) -> None:
        requests.post(f"{self.issuer}/__test/accounts", json=accounts, timeout=10)

    def tamper_next_token(self, mode: str) -> None:
        requests.post(f"{self.issuer}/__test/tamper", json={"mode": mode}, timeout=10)

    def sign_in(self, http: requests.Session, authorize_url: str, login: str, app_base: str) -> str:
        """Follow the provider's redirects and log in as ``login``; return the URL the provider
        sends the browser back to (on the app, at ``app_base``), without following it."""
        url = authorize_url
        for _ in range(10):
            response = http.get(url, allow_redirects=False, timeout=10)
            if response.status_code == 200 and "<form" in response.text:
                response = http.post(
                    response.url,
                    data={"login": login},
                    allow_redirects=False,
                    timeout=10,
                )
            location = response.headers.get("Location")
            if not location:
                raise AssertionError(
                    f"the provider stopped at {response.status_code}: {response.text}"
                )
            url = urljoin(url, location)
            if url.startswith(app_base):
                return url
        raise AssertionError("too many redirects at the provider")


@contextlib.contextmanager
def openid_provider(
    redirect_uris: list[str], accounts: dict[str, dict[str, Any]], refresh_tokens: bool = False
) -> Iterator[OpenIDProvider]:
    """Run ``oidc-provider`` on a free loopback port with one confidential client (allowed the
    refresh token grant with ``refresh_tokens``: then every sign-in gets a refresh token)."""
    home = install()
    workdir = Path(tempfile.mkdtemp(prefix="labelhive-oidc-"))
    script = home / "server.mjs"  # next to node_modules, where Node resolves its imports
    shutil.copyfile(SOURCE / "server.mjs", script)
    port = free_port()
    settings = {
        "port": port,
        "accounts": accounts,
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": redirect_uris,
                "grant_types": ["authorization_code"]
                + (["refresh_token"] if refresh_tokens else []),
                "response_types": ["code"],
            }
        ],
    }
    log = open(workdir / "provider.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        ["node", str(script), json.dumps(settings)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(lambda: proc.poll() is None and port_open(port), 30, "the OpenID provider")
        yield OpenIDProvider(f"http://127.0.0.1:{port}")
    except BaseException:
        sys.stderr.write((workdir / "provider.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        stop_pid(proc)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m tests.common.oidc install")
    print(f"oidc-provider installed in {install()}")
