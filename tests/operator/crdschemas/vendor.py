"""Vendor the OpenAPI schemas of third-party CRDs the operator writes (run by hand).

    python tests/operator/crdschemas/vendor.py REPO_DIR COMMIT PATH [PATH ...]

``REPO_DIR`` is a checkout of the upstream project at ``COMMIT``; each ``PATH`` is one of its
CRD files. For every served version the ``openAPIV3Schema`` is written to
``<group>_<plural>_<version>.yaml`` here, with ``description`` fields removed (they are most
of the bytes and no validator reads them) and a header naming the source, the commit and the
license. The upstream files are Apache-2.0; see ``NOTICE`` in this folder.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

HEADER = """\
# Modified copy: the openAPIV3Schema of version {version} of the CRD {crd},
# with every `description` removed, from {repo} at commit {commit}, file {path}.
# Licensed under the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0);
# see NOTICE in this folder. Regenerate with vendor.py.
"""


def strip_descriptions(node: Any) -> Any:
    """Return ``node`` without ``description`` keys (at any depth)."""
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def main(repo_dir: str, commit: str, paths: list[str]) -> None:
    repo = Path(repo_dir)
    origin = repo.name
    for rel in paths:
        crd = yaml.safe_load((repo / rel).read_text())
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = strip_descriptions(version["schema"]["openAPIV3Schema"])
            out = HERE / f"{group}_{plural}_{version['name']}.yaml"
            head = HEADER.format(
                version=version["name"],
                crd=crd["metadata"]["name"],
                repo=origin,
                commit=commit,
                path=rel,
            )
            out.write_text(head + yaml.safe_dump(schema, sort_keys=True))
            print(out.name, out.stat().st_size)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
