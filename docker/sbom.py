"""Completes an image's SBOM: the virtualenv's packages plus what the base ships.

Run in the images' builder stage (docker/app.Dockerfile, docker/operator.Dockerfile) by the SBOM
tool's own throwaway virtualenv, after ``cyclonedx-py environment`` has listed the packages of the
image's virtualenv. ``cyclonedx-py`` knows nothing of the operating system, so this adds:

- every installed Debian package (``dpkg-query``), as ``pkg:deb/debian/NAME@VERSION``;
- the Python interpreter, when it is not one of them (the official ``python`` image builds it
  into /usr/local), as ``pkg:generic/cpython@VERSION``;
- the image itself as the SBOM's subject (``metadata.component``, type ``container``).

The builder stage is ``FROM`` the same base as the final stage, and the final stage installs no
package, so the builder's ``dpkg`` database is the final image's. The result is checked against the
CycloneDX schema before it is written; the final stage copies only that file.

Usage: python sbom.py IN.cdx.json OUT.cdx.json --name NAME --version VERSION --python PATH
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

SPEC = SchemaVersion.V1_6


def os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    """``ID``, ``VERSION_ID`` and the rest of os-release, unquoted."""
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value.strip().strip('"')
    return fields


def debian_packages() -> list[tuple[str, str, str]]:
    """(name, version, architecture) of every installed package, sorted."""
    out = subprocess.run(
        [
            "dpkg-query",
            "-W",
            "-f",
            "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    # "ii " is installed; "rc " (removed, config files left) ships no files
    return sorted((name, version, arch) for status, name, version, arch in rows if status == "ii ")


def debian_component(name: str, version: str, arch: str, distro: str) -> dict[str, Any]:
    purl = PackageURL(
        type="deb",
        namespace="debian",
        name=name,
        version=version,
        qualifiers={"arch": arch, "distro": distro},
    ).to_string()
    return {
        "type": "library" if name.startswith("lib") else "application",
        "bom-ref": purl,
        "name": name,
        "version": version,
        "purl": purl,
    }


def interpreter(python: str) -> tuple[str, bool]:
    """The interpreter's version, and whether a Debian package owns its binary."""
    real = os.path.realpath(python)
    version = subprocess.run(
        [real, "-c", "import platform; print(platform.python_version())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    owned = subprocess.run(["dpkg-query", "-S", real], capture_output=True).returncode == 0
    return version, owned


def complete(
    bom: dict[str, Any],
    *,
    name: str,
    version: str,
    packages: list[tuple[str, str, str]],
    distro: str,
    python: tuple[str, bool],
) -> dict[str, Any]:
    """The SBOM with the image as its subject and the base's packages added."""
    components = list(bom.get("components", []))
    components += [debian_component(n, v, a, distro) for n, v, a in packages]
    py_version, owned = python
    if not owned:
        purl = PackageURL(type="generic", name="cpython", version=py_version).to_string()
        components.append(
            {
                "type": "application",
                "bom-ref": purl,
                "name": "cpython",
                "version": py_version,
                "purl": purl,
            }
        )
    metadata = dict(bom.get("metadata", {}))
    metadata["component"] = {
        "type": "container",
        "bom-ref": f"image:{name}@{version}",
        "name": name,
        "version": version,
    }
    return {**bom, "metadata": metadata, "components": components}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="cyclonedx-py's SBOM of the virtualenv")
    parser.add_argument("target", type=Path)
    parser.add_argument("--name", required=True, help="the image's name, e.g. labelhive")
    parser.add_argument("--version", required=True)
    parser.add_argument("--python", required=True, help="the image's virtualenv interpreter")
    args = parser.parse_args(argv)

    release = os_release()
    bom = complete(
        json.loads(args.source.read_text()),
        name=args.name,
        version=args.version,
        packages=debian_packages(),
        distro=f"{release['ID']}-{release['VERSION_ID']}",
        python=interpreter(args.python),
    )
    text = json.dumps(bom, indent=2, sort_keys=True) + "\n"
    error = JsonStrictValidator(SPEC).validate_str(text)
    if error is not None:
        print(
            f"sbom.py: the SBOM breaks the CycloneDX {SPEC.to_version()} schema: {error}",
            file=sys.stderr,
        )
        return 1
    args.target.parent.mkdir(parents=True, exist_ok=True)
    args.target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
