"""``LABELHIVE_PROXY_FIX``: trust that many proxies' X-Forwarded-For, and the outermost's
X-Forwarded-Proto/-Host (create_app and config.from_environ)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask import jsonify
from flask import request

from labelhive import config
from labelhive import create_app

# what the ingress, then the HAProxy sidecar, add to a request from 203.0.113.7 over HTTPS
KUBERNETES_HEADERS = {
    "X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.0.0.5",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "label.example.org",
}


def app_with_echo(sqlite_url: str, **config_values: object) -> Flask:
    app = create_app({"DATABASE_URL": sqlite_url, "TESTING": True, **config_values})

    @app.get("/_echo")
    def echo():  # noqa: ANN202
        return jsonify(addr=request.remote_addr, scheme=request.scheme, host=request.host)

    return app


def test_two_hops_take_the_client_address_scheme_and_host_from_the_proxies(sqlite_url):
    app = app_with_echo(sqlite_url, PROXY_FIX=2)
    seen = app.test_client().get(
        "/_echo", headers=KUBERNETES_HEADERS, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    # the client spoofed 198.51.100.1; the ingress appended the real address, HAProxy its own
    assert seen.get_json() == {
        "addr": "203.0.113.7",
        "scheme": "https",
        "host": "label.example.org",
    }


def test_the_default_trusts_no_forwarded_header(sqlite_url, monkeypatch):
    monkeypatch.delenv("LABELHIVE_PROXY_FIX", raising=False)
    app = app_with_echo(sqlite_url)
    assert app.config["PROXY_FIX"] == 0
    seen = app.test_client().get(
        "/_echo", headers=KUBERNETES_HEADERS, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    assert seen.get_json() == {"addr": "127.0.0.1", "scheme": "http", "host": "localhost"}


def test_the_environment_variable_is_read_and_checked():
    assert config.from_environ({"LABELHIVE_PROXY_FIX": "2"})["PROXY_FIX"] == 2
    assert config.from_environ({})["PROXY_FIX"] == 0
    for bad in ("two", "-1", "11"):
        with pytest.raises(RuntimeError, match="LABELHIVE_PROXY_FIX"):
            config.from_environ({"LABELHIVE_PROXY_FIX": bad})
