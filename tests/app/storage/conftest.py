"""An app wired to LocalStack's S3 (credentials through boto3's chain: the environment)."""

from __future__ import annotations

import pytest

from tests.common.s3 import LocalStackS3


def s3_config(s3_server: LocalStackS3) -> dict[str, object]:
    return {
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_REGION": "us-east-1",
        "S3_PROXY_PREFIX": "/img",
        "S3_PRESIGN_TTL": 120,
        # the buckets these tests use (labelhive.storage.scope refuses any other)
        "S3_BUCKET": "unit",
        "S3_BUCKETS": "bulk,listing,no-such-bucket",
    }


@pytest.fixture
def s3_env(s3_server: LocalStackS3, monkeypatch: pytest.MonkeyPatch) -> LocalStackS3:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def s3_app(app, s3_env: LocalStackS3):  # noqa: ANN001, ANN201
    app.config.update(s3_config(s3_env))
    client = s3_env.client()
    if "unit" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="unit")
    client.put_object(Bucket="unit", Key="cats/a b+%é.jpg", Body=b"meow")
    return app
