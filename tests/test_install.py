"""The installable product: build the wheel, install it (not editable) into a new venv, and run
``digital-incidents`` from another folder, as an admin would after ``pip install .``.

Offline: the wheel is built with this venv's setuptools (no build isolation) and installed with
--no-deps --no-index; the new venv borrows this venv's site-packages for the dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

NOW = "2026-11-25T10:00"       # a Wednesday in term
JUNK = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "demo",
                              "outbox", "config.toml")


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DIGITAL_INCIDENTS_CONFIG")}
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a clean copy of the checkout (a stale build/ must not leak into it)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=JUNK)
    ok(run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
           "--wheel-dir", base / "dist", source, cwd=base))
    (built,) = (base / "dist").glob("digital_incidents-*.whl")
    return built


def test_the_wheel_carries_the_package_templates_data_and_example_config(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {path.relative_to(ROOT).as_posix() for path in (ROOT / "workflow").rglob("*.py")}
    expected |= {path.relative_to(ROOT).as_posix() for path in (ROOT / "workflow" / "data").glob("*.toml")}
    expected |= {f"workflow/templates/{path.name}" for path in (ROOT / "templates").iterdir()
                 if path.suffix in (".html", ".txt", ".py")}
    assert "workflow/data/config.example.toml" in expected and "workflow/templates/new_case.html" in expected
    assert expected - names == set(), "missing from the wheel: add the package to [tool.setuptools] packages"
    top_level = {name.split("/")[0] for name in names}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"workflow"}   # no cli.py, no tests
    (entry_points,) = (name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "digital-incidents = workflow.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_command_runs_the_demo_and_check_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    ok(run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path))
    ok(run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-deps",
           "--no-index", wheel, cwd=tmp_path))
    site = Path(ok(run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                       cwd=tmp_path)).strip())
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    command = venv / "bin" / "digital-incidents"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert ok(run(command, "--version", cwd=elsewhere)).strip().endswith(version)

    demo = ok(run(command, "demo", "--dir", "school", "--now", NOW, cwd=elsewhere))
    assert "digital-incidents -c school/config.toml status" in demo
    assert (elsewhere / "school" / "incidents.xlsx").is_file()
    assert len(list((elsewhere / "school" / "outbox").glob("*.eml"))) >= 13

    check = ok(run(command, "-c", elsewhere / "school" / "config.toml", "check", cwd=tmp_path))
    assert "all checks passed" in check
    assert f"templates in {site / 'workflow' / 'templates'} render" in check      # the wheel's, not the checkout's
