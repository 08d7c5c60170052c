"""The first hour with LabelHive: `make run`, `make test`'s requirements, the docs, the CSV example.

The Makefile is run for real against a stand-in virtualenv (its ``python`` and ``labelhive``
only record how they were called), so what `make run` installs and serves is checked without
installing anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text

from labelhive.config import normalise_database_url
from labelhive.imports.parsers import parse_tasks
from tests.common.processes import labelhive_cli
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "tasks.csv"

RECORDER = """#!/bin/sh
echo "$(basename "$0") $* PIP_DISABLE_PIP_VERSION_CHECK=$PIP_DISABLE_PIP_VERSION_CHECK" >> "$CALLS"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The Makefile and pyproject.toml in a directory whose .venv records its calls."""
    work = tmp_path / "checkout"
    work.mkdir()
    shutil.copy(ROOT / "Makefile", work)
    shutil.copy(ROOT / "pyproject.toml", work)
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "labelhive"):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    return work


def make(work: Path, *args: str) -> list[str]:
    """Run make in ``work``; return the calls the stand-in virtualenv recorded."""
    calls = work / "calls.log"
    calls.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "MAKEFLAGS")}
    env["CALLS"] = str(calls)
    subprocess.run(["make", "-s", *args], cwd=work, env=env, check=True, capture_output=True)
    return calls.read_text().splitlines() if calls.exists() else []


def test_make_run_installs_only_the_runtime_dependencies_and_serves_on_port(checkout):
    calls = make(checkout, "run", "PORT=5999", "HOST=0.0.0.0")
    installs = [c for c in calls if c.startswith("python -m pip install")]
    assert len(installs) == 1, calls
    assert " -e . " in installs[0] and "[" not in installs[0]  # no extras
    assert "--quiet --quiet" in installs[0] and "PIP_DISABLE_PIP_VERSION_CHECK=1" in installs[0]
    assert calls[-1].startswith("labelhive serve --demo --host 0.0.0.0 --port 5999 ")

    # installed once; the defaults are the loopback address and port 5000
    again = make(checkout, "run")
    assert again[0].startswith("labelhive serve --demo --host 127.0.0.1 --port 5000 ")
    assert len(make(checkout, "run")) == 1


def test_make_test_still_installs_the_extras_after_make_run(checkout):
    make(checkout, "run")
    calls = make(checkout, ".venv/.installed")  # $(STAMP), what `make test` and `lint` need
    assert [c for c in calls if "pip install" in c and "-e .[test,operator]" in c], calls


def test_make_n_run_shows_the_port_reaching_serve():
    out = subprocess.run(
        ["make", "-n", "-B", "run", "PORT=5999"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    installs = [line for line in out.splitlines() if "pip install" in line]
    assert installs and not [line for line in installs if "[" in line], installs
    assert "labelhive serve --demo --host 127.0.0.1 --port 5999" in out


def run_python313(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/python313 on a PATH with no Python at all, no pyenv, no apt."""
    bare = tmp_path / "bin"
    bare.mkdir(exist_ok=True)
    for tool in ("bash", "sed", "id", "cat", "basename"):
        found = shutil.which(tool)
        assert found, tool
        (bare / tool).unlink(missing_ok=True)
        (bare / tool).symlink_to(found)
    base = {"PATH": str(bare), "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    return subprocess.run(
        [str(bare / "bash"), str(ROOT / "scripts" / "python313")],
        env={**base, **env},
        capture_output=True,
        text=True,
    )


def test_python313_says_how_to_get_one_when_none_is_found(tmp_path):
    result = run_python313(tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "needs Python >= 3.13" in result.stderr
    assert "LOCALSTACK_PYTHON=/path/to/python3.13" in result.stderr


def test_python313_refuses_a_given_python_that_is_too_old(tmp_path):
    old = tmp_path / "python-old"
    old.write_text("#!/bin/sh\nexit 1\n")  # answers "no" to the version check
    old.chmod(0o755)
    result = run_python313(tmp_path, LOCALSTACK_PYTHON=str(old))
    assert result.returncode == 1 and "not a Python >= 3.13" in result.stderr

    new = tmp_path / "python-new"
    new.write_text("#!/bin/sh\nexit 0\n")
    new.chmod(0o755)
    result = run_python313(tmp_path, LOCALSTACK_PYTHON=str(new))
    assert result.returncode == 0 and result.stdout.strip() == str(new)


def test_no_tracked_file_points_outside_the_repository():
    # spelled in two parts so that this file does not match itself
    needles = [".." + "/shared", "/work" + "/shared"]
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    assert len(files) > 100
    offenders = []
    for name in filter(None, files):
        path = ROOT / name.decode()
        if not path.is_file():
            continue  # deleted in the working tree
        data = path.read_bytes()
        offenders += [f"{name.decode()}: {n}" for n in needles if n.encode() in data]
    assert offenders == []


def test_the_docs_show_the_csv_example_and_the_requirements():
    readme = (ROOT / "README.md").read_text()
    assert "docs/examples/tasks.csv" in readme
    header = EXAMPLE.read_text().splitlines()[0].split(",")
    for column in header:
        assert f"`{column}`" in readme, column
    for fact in ("python3-venv", "3.13", "Ctrl-C", "rm labelhive.db", "PORT="):
        assert fact in readme, fact


def test_the_csv_example_parses_with_every_column_in_use():
    specs = parse_tasks(EXAMPLE.read_bytes(), "csv")
    assert [s.info["url"] for s in specs][:2] == [
        "https://images.example.com/pets/0001.jpg",
        "https://images.example.com/pets/0002.jpg",
    ]
    assert [s.gold_answer for s in specs] == ["cat", None, None, "dog"]
    assert [s.n_answers for s in specs] == [3, None, 5, None]
    assert [s.priority_0 for s in specs] == [0.9, 0.5, None, None]
    assert specs[0].info["note"] == "from the garden camera"
    assert not any("gold_answer" in s.info for s in specs)  # never shown to annotators


def test_gold_and_gold_answer_columns_give_the_same_gold_answer():
    rows = "url,{}\nhttps://e.com/1.jpg,cat\nhttps://e.com/2.jpg,\n"
    canonical = parse_tasks(rows.format("gold_answer").encode(), "csv")
    alias = parse_tasks(rows.format("GOLD").encode(), "csv")
    assert [s.gold_answer for s in canonical] == [s.gold_answer for s in alias] == ["cat", None]
    assert canonical == alias


@pytest.mark.parametrize("column", ["gold_answer", "gold"])
def test_the_csv_example_imports_through_the_cli(any_url, tmp_path, column):
    env = {"DATABASE_URL": any_url, "SECRET_KEY": "first-hour"}
    labelhive_cli("db", "upgrade", env=env)
    labelhive_cli("users", "create", "olivia", "--admin", env=env)
    labelhive_cli(
        "projects", "create", "pets", "--owner", "olivia", "--answers", "cat,dog,bird", env=env
    )
    source = tmp_path / "tasks.csv"
    text_ = EXAMPLE.read_text()
    source.write_text(text_.replace("gold_answer", column, 1))
    out = labelhive_cli("import", "pets", str(source), env=env).stdout
    assert "Imported 4 tasks into pets" in out
    engine = create_engine(normalise_database_url(any_url))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT n_answers, priority_0, gold_answer FROM task ORDER BY id")
        ).all()
    engine.dispose()
    assert [r.gold_answer for r in rows] == ["cat", None, None, "dog"]
    assert [r.priority_0 for r in rows][:2] == [0.9, 0.5]
    assert rows[0].n_answers == 3 and rows[2].n_answers == 5


def test_every_page_names_the_gold_column_gold_answer(client):
    make_project(make_user("alice"), n_tasks=1)
    sign_in(client, "alice")
    pages = {
        "/project/pets/import": "<code>gold_answer</code> (or <code>gold</code>)",
        "/project/pets/settings": "import column “gold_answer”",
        "/project/pets/gold": "a <code>gold_answer</code> column",
    }
    for path, wording in pages.items():
        page = client.get(path).get_data(as_text=True)
        assert wording in page, path
        assert "column “gold”" not in page and "a <code>gold</code> column" not in page, path
