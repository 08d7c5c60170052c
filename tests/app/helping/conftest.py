"""Helping-material worlds: apps on one database, signed-in browsers, stored rows counted."""

from __future__ import annotations

import io
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse
from werkzeug.test import encode_multipart

from labelhive.extensions import db
from labelhive.helping.models import HelpingChunk
from labelhive.helping.models import HelpingMaterial
from tests.app.api.conftest import PASSWORD
from tests.app.api.conftest import Api
from tests.app.api.conftest import Caller


def upload(api: Api, who: Caller, project_id: int, name: str, data: bytes) -> TestResponse:
    """A multipart POST as PYBOSSA's client sends it: form field ``project_id``, part ``file``.

    The body is encoded in memory first (the test client would spool a large one to a
    temporary file, which a test of "no disk" forbids).
    """
    boundary, body = encode_multipart(
        {"project_id": str(project_id), "file": FileStorage(io.BytesIO(data), name)}
    )
    return api.client.post(
        "/api/helpingmaterial",
        query_string={"api_key": who.key},
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def browser(app: Flask, login: str) -> FlaskClient:
    """A test client of ``app`` signed in as ``login`` (whose password is ``PASSWORD``)."""
    client = app.test_client()
    form = client.get("/account/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    signed_in = client.post(
        "/account/signin",
        data={"login": login, "password": PASSWORD, "csrf_token": token, "next": ""},
    )
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    return client


def path_of(material: dict) -> str:
    """The served path of an uploaded material's ``media_url``."""
    return "/" + material["media_url"].split("://", 1)[1].split("/", 1)[1]


def stored_counts(app: Flask) -> tuple[int, int]:
    """(helping materials, stored chunks) in the database."""
    with app.app_context():
        counts = (
            db.session.scalar(select(func.count()).select_from(HelpingMaterial)),
            db.session.scalar(select(func.count()).select_from(HelpingChunk)),
        )
        db.session.remove()
    return counts
