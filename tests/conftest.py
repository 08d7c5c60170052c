"""Fixtures shared by every test layer."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive import create_app
from labelhive import migrate
from labelhive.extensions import db
from tests.common.processes import PostgresServer
from tests.common.processes import postgres
from tests.common.s3 import LocalStackS3
from tests.common.s3 import localstack_s3

_db_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session; each test gets its own database in it."""
    with postgres() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalStackS3]:
    """LocalStack's S3, which checks SigV4 signatures and expiry (see tests/common/s3.py)."""
    with localstack_s3() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.create_database(f"test_{next(_db_numbers)}")


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # noqa: ANN001
    return f"sqlite:///{tmp_path / 'labelhive.db'}"


def make_app(url: str, **config: object) -> Flask:
    """An app on ``url`` with the schema migrated (the way production gets it)."""
    app = create_app({"DATABASE_URL": url, "TESTING": True, **config})
    with app.app_context():
        migrate.upgrade(db.engine)
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest) -> str:
    """The same test on embedded SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Flask]:
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[Flask]:
    app = make_app(pg_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
