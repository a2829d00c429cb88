"""Dedicated uids for sandbox children, unique on the host, and sweeping a uid's processes.

A worker running as root gives each sandbox child its own uid (``SandboxLimits.uid_base + n``),
so the child cannot read ``/proc/<worker>/environ``, signal or ptrace the worker or other
children, and ``RLIMIT_NPROC`` counts only its own processes. That holds only if no two live
children share a uid, across every worker process on the host; and a uid is handed out again
only once none of its processes is left (an escapee would otherwise join the next run).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import stat
import threading
import time

logger = logging.getLogger(__name__)

UID_LOCK_DIR = "/run/agentbay-sandbox-uids"


class UidAllocator:
    """Sandbox uids, unique on the host, not only in this process: every worker process (and
    its fork server's children) draws from the same range, so each uid in use is held with an
    ``flock`` on ``UID_LOCK_DIR/<uid>`` (released by the kernel if the worker dies). The file
    holds the owner's pid until a clean release; a non-empty file therefore means the owner
    died, and the uid's leftover processes are swept before it is handed out again."""

    def __init__(self, lock_dir: str = UID_LOCK_DIR):
        self._lock = threading.Lock()
        self._used: dict[int, int | None] = {}
        self._next = 0
        self._lock_dir = lock_dir
        self._dir_ok: bool | None = None

    def _dir(self) -> str | None:
        if self._dir_ok is None:
            try:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(self._lock_dir, 0o700)
                st = os.lstat(self._lock_dir)
                self._dir_ok = (
                    stat.S_ISDIR(st.st_mode)
                    and st.st_uid == os.geteuid()
                    and not st.st_mode & 0o022
                )
            except OSError:
                self._dir_ok = False
            if not self._dir_ok:
                logger.warning(
                    "sandbox uid lock dir %s unusable: uids are unique per process only",
                    self._lock_dir,
                )
        return self._lock_dir if self._dir_ok else None

    def _claim(self, uid: int) -> tuple[bool, int | None]:
        """Lock a uid host-wide: (claimed, lock fd)."""
        lock_dir = self._dir()
        if lock_dir is None:
            return True, None
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(os.path.join(lock_dir, str(uid)), flags, 0o600)
        except OSError:
            return False, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_size and not kill_uid(uid):
                raise OSError("leftover processes of a dead owner survive")
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            os.close(fd)  # held by another worker, or unusable
            return False, None
        return True, fd

    def acquire(self, base: int, count: int) -> int | None:
        """A free uid of ``base .. base + count - 1``, round robin; None when all are taken."""
        with self._lock:
            for step in range(count):
                uid = base + (self._next + step) % count
                if uid in self._used:
                    continue
                claimed, fd = self._claim(uid)
                if claimed:
                    self._used[uid] = fd
                    self._next = (self._next + step + 1) % count
                    return uid
        return None

    def release(self, uid: int) -> None:
        """Only once no process of ``uid`` is left."""
        with self._lock:
            fd = self._used.pop(uid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # clean: the next owner need not sweep
            os.close(fd)


# The allocator of this worker process (its lock fds are what hold the uids host-wide).
UIDS = UidAllocator()


def pids_of_uid(uid: int) -> list[int]:
    """The live processes of ``uid`` (zombies excluded: they are dead, waiting to be reaped)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"State:") and line.split()[1] in (b"Z", b"X"):
                        break  # already dead, waiting to be reaped
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(name))
                        break
        except (OSError, ValueError):
            continue
    return pids


def kill_uid(uid: int) -> bool:
    """SIGKILL every process of a sandbox uid (escapees that left the process group).
    Returns True when none is left."""
    for _ in range(50):
        pids = pids_of_uid(uid)
        if not pids:
            return True
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)
    return not pids_of_uid(uid)
