"""Sandbox work dirs left by a worker killed outright (SIGKILL, OOM: no clean-up ran) are
removed when a worker starts; those of live workers are kept."""

import os
import subprocess

from agents.runtime.sandbox import WORKDIR_PREFIX, start_sandbox, sweep_stale_workdirs
from tests.agents.test_sandbox import LIMITS


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_sweep_removes_only_dirs_of_workers_that_are_gone(tmp_path):
    gone = tmp_path / f"{WORKDIR_PREFIX}{dead_pid()}-abc"
    (gone / "nested").mkdir(parents=True)
    (gone / "nested" / "left.txt").write_text("from a killed run")
    mine = tmp_path / f"{WORKDIR_PREFIX}{os.getpid()}-def"
    mine.mkdir()
    older_name = tmp_path / f"{WORKDIR_PREFIX}k2j3h4"  # no pid in it: not ours to judge
    older_name.mkdir()
    other = tmp_path / "something-else"
    other.mkdir()

    assert sweep_stale_workdirs(str(tmp_path)) == 1

    assert not gone.exists()
    assert mine.exists() and older_name.exists() and other.exists()
    assert sweep_stale_workdirs(str(tmp_path)) == 0


def test_a_sandbox_names_its_work_dir_after_its_worker():
    with start_sandbox(LIMITS) as sandbox:
        name = os.path.basename(sandbox.workdir)
        assert name.startswith(f"{WORKDIR_PREFIX}{os.getpid()}-")
        # A sweep by another worker starting now keeps it: this worker is alive.
        assert sweep_stale_workdirs(os.path.dirname(sandbox.workdir)) >= 0
        assert os.path.isdir(sandbox.workdir)
