"""Presigned, proxied URLs and the S3 helpers, against LocalStack's signature-checking S3."""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from labelhive.storage import s3
from labelhive.storage.scope import S3Scope
from labelhive.tasks.images import image_url_for
from tests.common.s3 import LocalStackS3


def test_parse_s3_urls() -> None:
    assert s3.parse_s3_url("s3://my-bucket/cats/1.jpg") == ("my-bucket", "cats/1.jpg")
    assert s3.parse_s3_url("s3://b.c.d/a b%20.png") == ("b.c.d", "a b%20.png")
    for bad in ("s3://my-bucket/", "s3://my-bucket/dir/", "s3://UPPER/x.jpg", "s3://ab/x", "x"):
        assert s3.parse_s3_url(bad) is None, bad
    assert s3.parse_s3_prefix("s3://my-bucket/cats/") == ("my-bucket", "cats/")
    assert s3.parse_s3_prefix("s3://my-bucket") == ("my-bucket", "")
    with pytest.raises(ValueError, match="not a valid S3 bucket"):
        s3.parse_s3_prefix("s3://My_Bucket/x/")
    with pytest.raises(ValueError, match="not an s3://"):
        s3.parse_s3_prefix("https://my-bucket/x/")


def test_normalise_extensions() -> None:
    assert s3.normalise_extensions("jpg, .PNG,,") == (".jpg", ".png")
    assert s3.normalise_extensions(["JPEG"]) == (".jpeg",)
    assert s3.normalise_extensions("") == ()
    assert s3.normalise_extensions(None) == ()


def test_settings_refuse_a_ttl_sigv4_cannot_sign() -> None:
    with pytest.raises(ValueError, match="S3_PRESIGN_TTL"):
        s3.S3Settings.from_config({"S3_PRESIGN_TTL": 8 * 24 * 3600})
    settings = s3.S3Settings.from_config({"S3_PROXY_PREFIX": "/s3/"})
    assert (settings.proxy_prefix, settings.presign_ttl, settings.region) == (
        "/s3",
        300,
        "us-east-1",
    )


def test_to_proxy_path_keeps_the_signed_path_byte_for_byte() -> None:
    signed = "http://h:9000/bkt/a%20b/%C3%A9.jpg?X-Amz-Algorithm=A&X-Amz-Signature=abc"
    assert (
        s3.to_proxy_path(signed, "bkt", "/s3/")
        == "/s3/bkt/a%20b/%C3%A9.jpg?X-Amz-Algorithm=A&X-Amz-Signature=abc"
    )
    with pytest.raises(ValueError):
        # virtual-hosted style: the bucket is in the host, the proxy cannot forward that
        s3.to_proxy_path("http://bkt.h/a.jpg?X-Amz-Signature=abc", "bkt", "/s3")
    with pytest.raises(ValueError):
        s3.to_proxy_path("http://h/bkt/a.jpg", "bkt", "/s3")


# the storage of a project with the whole of the 'unit' bucket
UNIT = S3Scope(("unit",))


def test_image_url_is_presigned_with_the_configured_ttl_under_the_prefix(
    s3_app, s3_server: LocalStackS3
) -> None:  # noqa: ANN001
    url = image_url_for({"url": "s3://unit/cats/a b+%é.jpg", "key": "cats/a b+%é.jpg"}, UNIT)
    parts = urlsplit(url)
    assert parts.scheme == "" and parts.netloc == ""
    assert parts.path == "/img/unit/cats/a%20b%2B%25%C3%A9.jpg"
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["120"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    # the URL is signed for the upstream endpoint: put its host back and S3 serves the bytes
    direct = s3_server.endpoint_url + url[len("/img") :]
    response = requests.get(direct, timeout=10)
    assert response.status_code == 200 and response.content == b"meow"


def test_image_url_for_other_urls_is_unchanged_and_bad_s3_urls_give_none(s3_app) -> None:  # noqa: ANN001
    assert image_url_for({"url": "https://example.org/a.png"}, UNIT) == "https://example.org/a.png"
    assert image_url_for({"url": "s3://unit/"}, UNIT) is None
    assert image_url_for({"url": "s3://NOPE/x.jpg"}, UNIT) is None


def test_no_credentials_means_no_url_not_an_error(s3_app, monkeypatch) -> None:  # noqa: ANN001
    # boto3's chain finds nothing: the page shows no image rather than failing
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    s3_app.extensions.pop("labelhive.s3", None)
    assert image_url_for({"url": "s3://unit/cats/a b+%é.jpg"}, UNIT) is None


def test_list_keys_filters_by_extension_and_skips_folder_markers(
    s3_app, s3_server: LocalStackS3
) -> None:  # noqa: ANN001
    client = s3_server.client()
    client.create_bucket(Bucket="listing")
    for key in ("p/a.JPG", "p/b.png", "p/c.txt", "p/sub/", "p/sub/d.jpg", "q/e.jpg"):
        client.put_object(Bucket="listing", Key=key, Body=b"x")
    pages = list(s3.list_keys("listing", "p/", "jpg", page_size=2))
    assert [listed for listed, _ in pages] == [2, 2, 1]
    assert [k for _, keys in pages for k in keys] == ["p/a.JPG", "p/sub/d.jpg"]
    every = [k for _, keys in s3.list_keys("listing", "", None) for k in keys]
    assert every == ["p/a.JPG", "p/b.png", "p/c.txt", "p/sub/d.jpg", "q/e.jpg"]
