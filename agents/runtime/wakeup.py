"""Waking idle workers the moment a turn is queued.

An idle worker polls the task table; the poll interval is the queueing delay a turn pays,
and each poll is a query. Whoever queues a turn announces it once its task row is committed,
and every worker listens, so a notification wakes its claim loop at once and the poll can be
slow (a fallback for a lost notification or a listener reconnecting):

- PostgreSQL: `NOTIFY` on CHANNEL; each worker keeps one connection `LISTEN`ing.
- SQLite (one machine by nature): each worker binds a Unix datagram socket in a private
  directory named after the database file (mode 0700, owned by the worker's account, in
  the temporary directory so the path stays under the 107-byte limit); announcing sends a
  byte to every socket there. Sandbox children see none of it (a tmpfs covers /tmp). Where
  the directory cannot be used (another account owns it, an in-memory database) nothing is
  announced and workers poll, as before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import socket
import stat
import tempfile
import threading
from pathlib import Path

from django.db import connections, transaction

logger = logging.getLogger(__name__)

CHANNEL = "agentbay_tasks"


def supported(using: str = "default") -> bool:
    """Whether queued turns wake this database's workers (else they only poll)."""
    vendor = connections[using].vendor
    if vendor == "sqlite":
        return _socket_dir(using, create=True) is not None
    return vendor == "postgresql"


def announce(using: str = "default") -> None:
    """Tell listening workers that a task is ready: after its row is committed, or in the
    transaction that inserts it (PostgreSQL delivers a NOTIFY at commit; a failure here
    rolls back only its own savepoint)."""
    try:
        if connections[using].vendor == "postgresql":
            with transaction.atomic(using=using), connections[using].cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
        elif (directory := _socket_dir(using)) is not None:
            # A datagram is not transactional: sent at the commit (at once outside one).
            transaction.on_commit(functools.partial(_send_all, directory), using=using)
    except Exception:
        # Waking is an optimisation: the workers' poll picks the task up regardless.
        logger.warning("Could not notify workers of a queued task", exc_info=True)


def listener(event: threading.Event, using: str = "default") -> threading.Thread | None:
    """A started-able thread that sets `event` on every announcement, or None where queued
    turns cannot wake workers (they poll)."""
    vendor = connections[using].vendor
    if vendor == "postgresql":
        return Listener(event, using)
    if vendor == "sqlite" and (directory := _socket_dir(using, create=True)) is not None:
        return SocketListener(event, directory)
    return None


# --- PostgreSQL ---------------------------------------------------------------------------


class Listener(threading.Thread):
    """One dedicated connection per worker process, LISTENing on CHANNEL; every notification
    sets `event`. Reconnects after errors; `stop()` ends it within a second."""

    def __init__(self, event: threading.Event, using: str = "default") -> None:
        super().__init__(name="agents-wakeup", daemon=True)
        self.event = event
        self.using = using
        self.listening = threading.Event()
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._listen()
            except Exception:
                self.listening.clear()
                logger.warning("Task notifications lost; reconnecting", exc_info=True)
                self.event.set()  # a task may have been queued meanwhile: poll once
                self._stopped.wait(1.0)

    def _listen(self) -> None:
        # Not Django's thread-local connection: a raw one that only ever LISTENs, opened
        # directly, never taken from the connection pool (it is held for good).
        wrapper = connections.create_connection(self.using)
        conn = wrapper.Database.connect(**wrapper.get_connection_params())
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            while not self._stopped.is_set():
                for _notify in conn.notifies(timeout=1.0):
                    self.event.set()
        finally:
            conn.close()


# --- SQLite -------------------------------------------------------------------------------


def _socket_dir(using: str, *, create: bool = False) -> Path | None:
    """The private directory of this SQLite database's worker sockets, or None."""
    name = str(connections[using].settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        return None
    key = hashlib.sha256(os.path.realpath(name).encode()).hexdigest()[:20]
    directory = Path(tempfile.gettempdir()) / f"agentbay-wakeup-{key}"
    if create:
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    try:
        info = directory.lstat()
    except OSError:
        return None
    # Only a directory of this account's, closed to others: nobody else can plant sockets
    # in it or read who listens.
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.geteuid()
        or stat.S_IMODE(info.st_mode) & 0o077
    ):
        return None
    return directory


def _send_all(directory: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for path in directory.glob("*.sock"):
            try:
                sender.sendto(b"!", str(path))
            except BlockingIOError:
                pass  # its queue is full: that worker has wake-ups waiting already
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()  # a worker that died without removing its socket


class SocketListener(threading.Thread):
    """A worker's datagram socket in the database's directory; every datagram sets
    `event`. `stop()` ends it within a second and removes the socket."""

    def __init__(self, event: threading.Event, directory: Path) -> None:
        super().__init__(name="agents-wakeup", daemon=True)
        self.event = event
        self.path = directory / f"{os.getpid()}-{threading.get_ident()}.sock"
        self.listening = threading.Event()
        self._stopped = threading.Event()
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._socket.bind(str(self.path))
        self._socket.settimeout(1.0)

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        self.listening.set()
        try:
            while not self._stopped.is_set():
                try:
                    self._socket.recv(64)
                except TimeoutError:
                    continue
                except OSError:
                    logger.warning("Task wake-ups lost; polling only", exc_info=True)
                    return
                self.event.set()
        finally:
            self._socket.close()
            with contextlib.suppress(OSError):
                self.path.unlink()
