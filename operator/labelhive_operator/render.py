"""``labelhive-operator render``: print what the operator would apply, for review and GitOps."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any
from typing import TextIO

import yaml

from labelhive_operator import builders
from labelhive_operator import validate
from labelhive_operator.builders import secrets as gen_secrets


def render_project(body: dict[str, Any], *, with_secrets: bool = False) -> list[dict[str, Any]]:
    """Build the objects for one ``LabelingProject`` with the operator's own builders.

    :param body: the custom resource as parsed from YAML.
    :param with_secrets: also emit the generated Secrets (with fresh random values).
    :return: the manifests; the ownerReference uid is a placeholder until the CR exists.
    :raise validate.InvalidSpec: what the operator would report as ``Reconciled=False``.
    """
    body = {**body, "metadata": {"uid": "00000000-0000-0000-0000-000000000000", **body["metadata"]}}
    project = validate.parse(body)
    objs = builders.build_all(project, builders.render_inputs(project))
    if with_secrets:
        for name, keys in gen_secrets.generated_keys(project).items():
            values = {k: secrets.token_urlsafe(32) for k in keys}
            objs.insert(0, gen_secrets.generated_secret(project, name, values))
    return objs


def render_stream(docs: Iterable[Any], out: TextIO, *, with_secrets: bool = False) -> int:
    """Render every ``LabelingProject`` document of a YAML stream to ``out``.

    :return: the number of objects written.
    """
    count = 0
    for doc in docs:
        if not doc or doc.get("kind") != "LabelingProject":
            continue
        objs = render_project(doc, with_secrets=with_secrets)
        yaml.safe_dump_all(objs, out, sort_keys=False, explicit_start=True)
        count += len(objs)
    return count
