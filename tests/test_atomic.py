"""atomic_path: a failed write leaves the target as it was and no temporary file behind."""

import os

import pytest

from gridworld_env.atomic import atomic_path


def test_success_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    with atomic_path(str(target)) as tmp:
        with open(tmp, "w") as f:
            f.write("new")
    assert target.read_text() == "new" and os.listdir(target.parent) == ["f.txt"]


@pytest.mark.parametrize("existing", [True, False])
def test_failure_keeps_the_old_file_and_leaves_nothing_half_written(tmp_path, existing):
    target = tmp_path / "f.txt"
    if existing:
        target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(str(target)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("disk full")
    assert os.listdir(tmp_path) == (["f.txt"] if existing else [])
    if existing:
        assert target.read_text() == "old"
