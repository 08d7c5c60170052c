"""The ``labelhive`` command line, run as a child process the way people run it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text

from labelhive.config import normalise_database_url
from tests.common.processes import labelhive_cli


@pytest.fixture
def env(any_url: str) -> dict[str, str]:
    env = {"DATABASE_URL": any_url, "SECRET_KEY": "cli-test"}
    labelhive_cli("db", "upgrade", env=env)
    labelhive_cli("users", "create", "olivia", "--admin", env=env)
    labelhive_cli(
        "projects",
        "create",
        "birds",
        "--owner",
        "olivia",
        "--question",
        "Which bird?",
        "--answers",
        "robin,wren,tit",
        "--redundancy",
        "2",
        env=env,
    )
    return env


def task_count(env: dict[str, str]) -> int:
    engine = create_engine(normalise_database_url(env["DATABASE_URL"]))
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM task")).scalar()
    engine.dispose()
    return count


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def refused(env: dict[str, str], *args: str) -> str:
    """Run a command that must fail with exit code 1 and return its one-sentence message."""
    result = labelhive_cli(*args, env=env, check=False)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def test_users_create_prints_one_key_per_user(env):
    out = labelhive_cli("users", "create", "ann", "bob", "cid", env=env).stdout
    lines = [line.split() for line in out.strip().splitlines()]
    assert [name for name, _ in lines] == ["ann", "bob", "cid"]
    assert len({key for _, key in lines}) == 3 and all(len(key) >= 32 for _, key in lines)
    assert "already taken" in refused(env, "users", "create", "ann")


def test_users_create_with_a_key_from_the_environment_is_repeatable(env):
    key_env = {**env, "OPERATOR_KEY": "k" * 40}
    first = labelhive_cli(
        "users", "create", "robot", "--admin", "--api-key-from-env", "OPERATOR_KEY", env=key_env
    )
    again = labelhive_cli(
        "users",
        "create",
        "robot",
        "--admin",
        "--api-key-from-env",
        "OPERATOR_KEY",
        "--exist-ok",
        env=key_env,
    )
    assert first.stdout == again.stdout == f"robot {'k' * 40}\n"


def test_import_then_export_round_trip(env, tmp_path):
    source = write_csv(
        tmp_path / "birds.csv",
        ["url", "site"],
        [[f"https://img.example/{i}.jpg", f"pond {i}"] for i in range(25)],
    )
    out = labelhive_cli("import", "birds", str(source), env=env).stdout
    assert "Imported 25 tasks into birds" in out
    assert task_count(env) == 25
    target = tmp_path / "tasks.jsonl"
    labelhive_cli(
        "export", "birds", "--what", "tasks", "--format", "jsonl", "-o", str(target), env=env
    )
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 25
    assert {row["info"]["url"] for row in rows} == {
        f"https://img.example/{i}.jpg" for i in range(25)
    }
    assert not (tmp_path / "tasks.jsonl.partial").exists()
    stdout = labelhive_cli("export", "birds", "--what", "tasks", "--format", "csv", env=env).stdout
    assert len(stdout.strip().splitlines()) == 26


def test_import_of_100k_rows(env, tmp_path):
    source = write_csv(
        tmp_path / "big.csv",
        ["image_url"],
        [[f"https://img.example/{i}.png"] for i in range(100_000)],
    )
    out = labelhive_cli("import", "birds", str(source), "--redundancy", "1", env=env).stdout
    assert "Imported 100,000 tasks" in out
    assert task_count(env) == 100_000


def test_bad_imports_are_refused_whole_with_a_sentence(env, tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("url,caption\nhttps://img.example/1.jpg,caf\xe9\n".encode("latin-1"))
    assert "UTF-8" in refused(env, "import", "birds", str(latin1))

    no_url = write_csv(tmp_path / "no-url.csv", ["caption"], [["a robin"]])
    assert "url" in refused(env, "import", "birds", str(no_url)).lower()

    huge = write_csv(
        tmp_path / "huge.csv", ["url", "notes"], [["https://img.example/1.jpg", "x" * 10_000_000]]
    )
    assert "larger than" in refused(env, "import", "birds", str(huge))

    not_a_list = tmp_path / "object.json"
    not_a_list.write_text(json.dumps({"url": "https://img.example/1.jpg"}))
    assert "list" in refused(env, "import", "birds", str(not_a_list))

    # a bad row late in a good file: nothing of the file is imported
    rows = [[f"https://img.example/{i}.jpg"] for i in range(5000)] + [["javascript:alert(1)"]]
    late_error = write_csv(tmp_path / "late.csv", ["url"], rows)
    message = refused(env, "import", "birds", str(late_error))
    assert "5001" in message or "5002" in message  # names the offending row or line

    good = write_csv(tmp_path / "good.csv", ["url"], [["https://img.example/1.jpg"]])
    assert "No project 'nope'" in refused(env, "import", "nope", str(good))
    assert "between 1 and" in refused(env, "import", "birds", str(good), "--redundancy", "0")
    assert "between 1 and" in refused(env, "import", "birds", str(good), "--redundancy", "-2")
    assert task_count(env) == 0


def test_projects_create_refuses_duplicates_and_bad_names(env):
    assert "exists already" in refused(env, "projects", "create", "birds", "--owner", "olivia")
    assert "short_name" in refused(env, "projects", "create", "Bad Name!", "--owner", "olivia")
    assert "No user" in refused(env, "projects", "create", "cats", "--owner", "ghost")


def test_shared_database_must_be_migrated_first(pg_url):
    env = {"DATABASE_URL": pg_url, "SECRET_KEY": "x"}
    message = refused(env, "users", "create", "early")
    assert "labelhive db upgrade" in message


def test_secret_key_is_required_outside_embedded_mode(pg_url):
    assert "SECRET_KEY" in refused({"DATABASE_URL": pg_url, "SECRET_KEY": ""}, "db", "upgrade")
