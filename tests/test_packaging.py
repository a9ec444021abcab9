"""What an installed wheel contains: the library, its shipped weights, and no generic top-level
packages (the command-line tools run from the checkout)."""

import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), ROOT],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = out.glob("vingrid-*.whl")
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_wheel_holds_only_the_library(wheel):
    top = {name.split("/")[0] for name in wheel if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"gridworld_env", "agents"}


def test_wheel_ships_the_pretrained_agents(wheel):
    shipped = sorted(os.listdir(os.path.join(ROOT, "agents", "pretrained")))
    assert shipped and all(f"agents/pretrained/{name}" in wheel for name in shipped)
