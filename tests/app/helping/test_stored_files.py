"""Helping materials' files live in the database: any app instance serves what another stored,
nothing is written to local disk, and a failed upload leaves nothing behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from labelhive.extensions import db
from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope
from tests.app.helping.conftest import browser
from tests.app.helping.conftest import path_of
from tests.app.helping.conftest import stored_counts
from tests.app.helping.conftest import upload
from tests.conftest import make_app

MIB = 1024 * 1024


def world(url: str, **config: object) -> Api:
    return Api(make_app(url, **config))


def test_a_file_stored_by_one_instance_is_served_byte_identical_by_another(any_url: str) -> None:
    writer = world(any_url)
    project = writer.project(writer.owner, "birds")
    data = os.urandom(2 * MIB + 12345)  # three chunks, the last one short
    made = writer.ok(upload(writer, writer.owner, project["id"], "field guide.pdf", data))
    assert made["info"] == {
        "file_name": "field_guide.pdf",
        "container": f"helpingmaterial/{project['id']}",
    }
    assert stored_counts(writer.app) == (1, 3)
    writer.set_password(writer.contributor)

    # a second app on the same database only: no shared process, disk or cache
    reader = make_app(any_url)
    with browser(reader, "contributor") as client:
        served = client.get(path_of(made))
        assert served.status_code == 200
        assert served.data == data
        assert served.headers["Content-Length"] == str(len(data))
        assert served.headers["Content-Type"] == "application/pdf"
        assert served.headers["Content-Disposition"] == "attachment; filename=field_guide.pdf"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert served.headers["Content-Security-Policy"].startswith("sandbox")
        assert served.headers["Cache-Control"] == "private, max-age=300"
        etag = served.headers["ETag"]
        assert served.headers["Last-Modified"]

        again = client.get(path_of(made), headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.data == b""
        # a video seeking: a range across the first chunk boundary
        cut = client.get(path_of(made), headers={"Range": f"bytes={MIB - 10}-{MIB + 9}"})
        assert cut.status_code == 206
        assert cut.data == data[MIB - 10 : MIB + 10]
        assert cut.headers["Content-Range"] == f"bytes {MIB - 10}-{MIB + 9}/{len(data)}"
    with reader.app_context():
        db.engine.dispose()


def test_a_read_only_instance_path_and_temporary_directory_still_accept_and_serve(
    any_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    api = world(any_url)
    api.app.instance_path = str(instance)
    project = api.project(api.owner, "birds")
    api.set_password(api.owner)
    data = os.urandom(MIB + 1)  # above werkzeug's 500 KB spooling threshold
    # root ignores 0555, so the test also checks that nothing appeared; and a temporary
    # directory that cannot exist (under a regular file) fails any spooled temporary file
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_bytes(b"")
    instance.chmod(0o555)
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(not_a_dir / "tmp"))
        made = api.ok(upload(api, api.owner, project["id"], "beak.png", data))
        with browser(api.app, "owner") as client:
            served = client.get(path_of(made))
        monkeypatch.undo()
    finally:
        instance.chmod(0o755)
    assert served.status_code == 200
    assert served.data == data
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Content-Disposition"] == "inline; filename=beak.png"
    assert list(instance.iterdir()) == []


def test_a_failed_upload_leaves_no_row_and_no_bytes(any_url: str) -> None:
    api = world(any_url)
    project = api.project(api.owner, "birds")
    # the database refuses the second chunk: the first one and the row must go with it
    with api.app.app_context():
        if db.engine.dialect.name == "sqlite":
            statements = [
                "CREATE TRIGGER refuse_second BEFORE INSERT ON helping_chunk WHEN NEW.seq = 1 "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ]
        else:
            statements = [
                "CREATE FUNCTION refuse_second() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.seq = 1 THEN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation';"
                " END IF; RETURN NEW; END $$",
                "CREATE TRIGGER refuse_second BEFORE INSERT ON helping_chunk "
                "FOR EACH ROW EXECUTE FUNCTION refuse_second()",
            ]
        with db.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
        db.engine.dispose()
    refused = upload(api, api.owner, project["id"], "guide.pdf", os.urandom(MIB + 10))
    envelope(refused, 415, "DBIntegrityError", "helpingmaterial")
    assert stored_counts(api.app) == (0, 0)
    # a file of one chunk passes the trigger: the failure above was the database's, not ours
    api.ok(upload(api, api.owner, project["id"], "small.txt", b"hello"))
    assert stored_counts(api.app) == (1, 1)


def test_size_limits_answer_with_a_sentence_and_store_nothing(any_url: str) -> None:
    api = world(any_url, MAX_HELPING_MATERIAL_BYTES=MIB, MAX_CONTENT_LENGTH=3 * MIB)
    project = api.project(api.owner, "birds")
    body = envelope(
        upload(api, api.owner, project["id"], "big.png", b"x" * (MIB + 1)),
        400,
        "BadRequest",
        "helpingmaterial",
    )
    assert body["exception_msg"] == (
        f"The file has {MIB + 1} bytes; helping materials may have at most {MIB} bytes."
    )
    body = envelope(
        upload(api, api.owner, project["id"], "huge.png", b"x" * (3 * MIB + 1)),
        413,
        "RequestEntityTooLarge",
        "helpingmaterial",
    )
    assert "3 MiB" in body["exception_msg"]
    assert stored_counts(api.app) == (0, 0)
    made = api.ok(upload(api, api.owner, project["id"], "limit.png", b"x" * MIB))
    assert stored_counts(api.app) == (1, 1)
    assert made["info"]["file_name"] == "limit.png"


def test_only_who_may_see_the_project_gets_the_file(any_url: str) -> None:
    api = world(any_url)
    draft = api.project(api.owner, "draft", published=False)
    made = api.ok(upload(api, api.owner, draft["id"], "notes.txt", b"secret notes"))
    for who in (api.owner, api.other, api.admin):
        api.set_password(who)
    assert api.client.get(path_of(made)).status_code == 404  # anonymous
    with browser(api.app, "other") as client:
        assert client.get(path_of(made)).status_code == 404  # another owner's draft
        # a guessed name in a project one may not see reveals nothing either
        assert client.get(f"/helping/{draft['id']}/0000000000000000-x.txt").status_code == 404
    for login in ("owner", "admin"):
        with browser(api.app, login) as client:
            served = client.get(path_of(made))
            assert served.status_code == 200
            assert served.data == b"secret notes"
            assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert served.headers["Content-Disposition"] == "attachment; filename=notes.txt"


def test_deleting_a_material_or_its_project_deletes_the_bytes(any_url: str) -> None:
    api = world(any_url)
    birds = api.project(api.owner, "birds")
    cats = api.project(api.owner, "cats")
    first = api.ok(upload(api, api.owner, birds["id"], "a.png", os.urandom(MIB + 1)))
    api.ok(upload(api, api.owner, birds["id"], "b.png", b"b"))
    api.ok(upload(api, api.owner, cats["id"], "c.png", b"c"))
    assert stored_counts(api.app) == (3, 4)
    assert api.delete(f"/api/helpingmaterial/{first['id']}", api.owner).status_code == 204
    assert stored_counts(api.app) == (2, 2)
    api.set_password(api.owner)
    with browser(api.app, "owner") as client:
        assert client.get(path_of(first)).status_code == 404
    assert api.delete(f"/api/project/{birds['id']}", api.owner).status_code == 204
    assert stored_counts(api.app) == (1, 1)  # the other project's file stays
