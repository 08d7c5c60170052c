"""``labelhive-operator``: render prints the builders' objects; run execs kopf as documented."""

from __future__ import annotations

import yaml

from labelhive_operator import cli
from labelhive_operator.render import render_project
from tests.operator.conftest import EXAMPLES
from tests.operator.conftest import load_example


def test_render_prints_what_the_operator_would_apply(capsys) -> None:  # noqa: ANN001
    assert cli.main(["render", "-f", str(EXAMPLES / "full.yaml")]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert docs == render_project(load_example("full"))
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_render_without_a_project_fails(tmp_path, capsys) -> None:  # noqa: ANN001
    empty = tmp_path / "x.yaml"
    empty.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert cli.main(["render", "-f", str(empty)]) == 1
    assert "no LabelingProject" in capsys.readouterr().err


def test_run_command_line() -> None:
    argv = cli.kopf_argv(["labelhive"])
    assert argv[:3] == ["kopf", "run", "--standalone"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in argv
    assert argv[-2:] == ["--namespace", "labelhive"]
    assert cli.kopf_argv([])[-1] == "--all-namespaces"


def test_render_refuses_what_the_operator_would_report_invalid(tmp_path, capsys) -> None:  # noqa: ANN001
    body = load_example("minimal")
    body["metadata"]["name"] = "demo.with.dots"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(body))
    assert cli.main(["render", "-f", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid LabelingProject" in err and "demo.with.dots" in err
