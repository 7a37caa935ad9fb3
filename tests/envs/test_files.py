"""Atomic writes keep the old file on failure and leave no temporary files behind."""

import os
import stat

import pytest

from envs.files import atomic_destination, atomic_write_text


def test_write_replaces_with_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_failure_keeps_the_previous_file(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_text(target, "complete")
    with pytest.raises(RuntimeError):
        with atomic_destination(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_processes_checking_one_output_folder_at_once_do_not_trip_each_other(tmp_path):
    """Each rank of a distributed run checks the run's --out: their write probes must not collide."""
    from concurrent.futures import ThreadPoolExecutor

    from envs.files import writable_folder

    folder = tmp_path / "run"
    with ThreadPoolExecutor(8) as pool:
        checked = list(pool.map(lambda _: writable_folder(folder, "--out"), range(400)))
    assert checked == [folder] * 400 and list(folder.iterdir()) == []
