"""The HAProxy sidecar's variables, and ``haproxy/haproxy.cfg`` as HAProxy itself reads it."""

from __future__ import annotations

import pytest

from labelhive.storage import proxy
from tests.common.haproxy import CONFIG


def test_s3_upstream_is_the_host_boto3_signs() -> None:
    assert proxy.s3_upstream("http://127.0.0.1:4566", "x") == {
        "S3_UPSTREAM": "127.0.0.1:4566",
        "S3_UPSTREAM_HOST": "127.0.0.1:4566",
        "S3_UPSTREAM_TLS": "0",
        "S3_UPSTREAM_SNI": "127.0.0.1",
    }
    # the scheme's default port is not part of the signed Host header
    vpce = "https://bucket.vpce-0a1b.s3.eu-west-1.vpce.amazonaws.com"
    assert proxy.s3_upstream(vpce + ":443", "x")["S3_UPSTREAM_HOST"] == vpce[8:]
    aws = proxy.s3_upstream(None, "eu-west-1")
    assert aws["S3_UPSTREAM"] == "s3.eu-west-1.amazonaws.com:443"
    assert (aws["S3_UPSTREAM_HOST"], aws["S3_UPSTREAM_TLS"]) == ("s3.eu-west-1.amazonaws.com", "1")
    with pytest.raises(ValueError, match="not an http"):
        proxy.s3_upstream("ftp://x", "x")


def test_haproxy_env_and_the_config_is_valid_for_plain_and_tls_endpoints() -> None:
    base = {"S3_PROXY_PREFIX": "/images/", "S3_REGION": "us-east-1"}
    for endpoint in ("http://127.0.0.1:9000", "https://minio.internal:9443", None):
        env = proxy.haproxy_env(
            {**base, "S3_ENDPOINT_URL": endpoint},
            listen="127.0.0.1:18080",
            app="127.0.0.1:5000",
            ca_file="/etc/ssl/certs/ca-certificates.crt",
        )
        assert env["S3_PROXY_PREFIX"] == "/images"
        assert env["S3_UPSTREAM_CA_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
        proxy.check(env, CONFIG)


def test_check_reports_haproxys_refusal(tmp_path) -> None:  # noqa: ANN001
    broken = tmp_path / "haproxy.cfg"
    broken.write_text("frontend f\n    bind :notaport\n")
    with pytest.raises(RuntimeError, match="haproxy -c"):
        proxy.check({}, broken)


def test_config_path_prefers_the_environment(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    assert proxy.config_path() == CONFIG
    own = tmp_path / "mine.cfg"
    own.write_text("")
    monkeypatch.setenv(proxy.CONFIG_ENV, str(own))
    assert proxy.config_path() == own
