"""`helm package` of the repository root holds the chart and nothing else (.helmignore)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import helm_python

from tests.chart.conftest import ROOT

#: what may be in the package, relative to the chart's top folder
ALLOWED_FILES = {
    "Chart.yaml",
    "values.yaml",
    "values.schema.json",
    ".helmignore",
    "charts/labelhive-operator/Chart.yaml",
    "charts/labelhive-operator/values.yaml",
    "charts/labelhive-operator/values.schema.json",
    "charts/labelhive-operator/.helmignore",
    "charts/labelhive-operator/files/labelhive.io_labelingprojects.yaml",
}
ALLOWED_FOLDERS = ("templates/", "charts/labelhive-operator/templates/")
#: a chart is text: anything near this size means something else slipped in
MAX_BYTES = 64 * 1024


def test_the_package_holds_only_the_chart(tmp_path: Path) -> None:
    archive = Path(helm_python.package(ROOT, destination=tmp_path))
    assert archive.name == "labelhive-0.1.0.tgz"
    with tarfile.open(archive) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    assert all(n.startswith("labelhive/") for n in names)
    files = {n.removeprefix("labelhive/") for n in names}
    strays = {f for f in files if f not in ALLOWED_FILES and not f.startswith(ALLOWED_FOLDERS)}
    assert strays == set()
    assert ALLOWED_FILES - {".helmignore", "charts/labelhive-operator/.helmignore"} <= files
    assert {"templates/NOTES.txt", "templates/_helpers.tpl", "templates/labelingproject.yaml"} <= (
        files
    )
    size = archive.stat().st_size
    print(f"chart package {archive.name}: {size} bytes, {len(files)} files")
    assert size < MAX_BYTES
    # the package renders like the directory
    chart = helm_python.Chart.load_archive(archive.read_bytes())
    assert chart.crds == []
    rendered = chart.render(None, name="lh", namespace="labelhive", is_install=True)
    assert any(name.endswith("templates/crd.yaml") for name in rendered)
