"""What a sandbox child can see of the host, in both modes (root: dedicated uid; not root: a
user namespace): no host sockets or private directories, mounts it cannot undo, its own pid
namespace, and a worker that refuses children it cannot isolate (fail closed)."""

import json
import os
import sys
import textwrap
import time

import pytest
from django.core import checks

from agents.checks import sandbox_shared_uid_allowed
from agents.runtime.sandbox import (
    PROJECT_DIR,
    Sandbox,
    SandboxError,
    SandboxLimits,
    harden_worker_process,
    isolation_state,
    start_sandbox,
)
from tools_registry.specs import ToolSpec

LIMITS = SandboxLimits(memory_bytes=256 << 20, cpu_seconds=2, action_timeout=5.0, max_processes=16)
PG_SOCKET = "/run/postgresql/.s.PGSQL.5432"

LOOK = ToolSpec(
    name="look",
    description="What of the host this process can see, reach and change.",
    inputs={"project": {"type": "string", "description": "The project directory."}},
    output_type="object",
    source=textwrap.dedent(
        '''
        import ctypes
        import os
        import socket
        import sys

        from smolagents import tool


        @tool
        def look(project: str) -> dict:
            """What of the host this process can see, reach and change.

            Args:
                project: The project directory.
            """
            out = {"listing": {}}
            for path in ("/run", "/var/run", "/home", "/root", "/tmp", project):
                try:
                    out["listing"][path] = sorted(os.listdir(path))
                except OSError as exc:
                    out["listing"][path] = type(exc).__name__
            sock = socket.socket(socket.AF_UNIX)
            try:
                sock.connect("/run/postgresql/.s.PGSQL.5432")
                out["pg"] = "connected"
            except OSError as exc:
                out["pg"] = type(exc).__name__
            finally:
                sock.close()
            try:
                with open(os.path.join(sys.prefix, "planted.pth"), "w") as fh:
                    fh.write("import os\\n")
                out["venv_write"] = "wrote"
            except OSError as exc:
                out["venv_write"] = type(exc).__name__
            libc = ctypes.CDLL(None, use_errno=True)
            out["umount"] = {p: libc.umount2(p.encode(), 2) for p in ("/run", project, "/tmp")}
            with open("/proc/self/status") as fh:
                out["status"] = dict(
                    line.split(":", 1) for line in fh.read().splitlines() if ":" in line
                )
            out["prefix"] = sys.prefix
            out["ns"] = {n: os.readlink("/proc/self/ns/" + n) for n in ("ipc", "mnt", "pid")}
            out["prefix_read_only"] = bool(os.statvfs(sys.prefix).f_flag & os.ST_RDONLY)
            return out
        '''
    ),
)

ESCAPE = ToolSpec(
    name="escape",
    description="Leave a setsid double-forked process behind.",
    output_type="integer",
    source=textwrap.dedent(
        '''
        import ctypes
        import os
        import time

        from smolagents import tool


        @tool
        def escape() -> int:
            """Leave a setsid double-forked process behind."""
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    ctypes.CDLL(None).prctl(15, b"sbx-escapee", 0, 0, 0)
                    time.sleep(600)
                os._exit(0)
            time.sleep(0.2)
            return os.getpid()
        '''
    ),
)


def escapees() -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as fh:
                    if fh.read().strip() == "sbx-escapee":
                        found.append(int(name))
            except OSError:
                continue
    return found


def look(sandbox: Sandbox, network: bool = False) -> dict:
    assert sandbox.setup([LOOK.to_json()], [], network=network)["ok"]
    result = sandbox.run_code(f"look(project={PROJECT_DIR!r})")
    assert result["ok"], result
    return result["output"]


def test_child_is_isolated_in_this_mode():
    with start_sandbox(LIMITS) as sandbox:
        info = sandbox.info
    assert info["isolated"] and info["mount_ns"] and info["private_tmp"]
    if os.geteuid() == 0:
        assert info["dedicated_uid"] and not info["user_ns"]
    else:
        assert info["user_ns"] and info["caps_dropped"]
    assert info["pid_ns"]
    assert os.path.realpath("/run") in info["hidden"]
    assert PROJECT_DIR in info["hidden"]


@pytest.mark.parametrize("network", [False, True], ids=["own-netns", "host-network"])
def test_host_sockets_and_private_dirs_are_hidden_and_stay_hidden(network):
    """Without the network (a nested user+network namespace, with capabilities in it) and with
    it (no capability at all): the same view, and the same mounts that cannot be undone."""
    with start_sandbox(LIMITS) as sandbox:
        seen = look(sandbox, network)
    listing = seen["listing"]
    assert listing["/run"] == [] and listing["/var/run"] == []
    assert listing["/home"] == []
    assert seen["pg"] == "FileNotFoundError"
    # Only what the interpreter needs stays visible inside /root and the project (read-only).
    keep = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    for path in ("/root", PROJECT_DIR):
        for entry in listing[path] if isinstance(listing[path], list) else []:
            full = os.path.join(path, entry)
            assert any(k == full or k.startswith(full + "/") for k in keep), full
    # Its own tmpfs, plus the way to the interpreter when the checkout lives under /tmp.
    own = [e for e in listing["/tmp"] if not any(k.startswith(f"/tmp/{e}/") for k in keep)]
    assert own == ["__pycache__", "agentbay_tool_0_look.py"]
    assert seen["venv_write"] in ("OSError", "PermissionError")  # read-only, whatever the uid
    assert seen["prefix_read_only"]
    for name, ns in seen["ns"].items():  # its own ipc, mount and pid namespaces
        assert ns != os.readlink(f"/proc/self/ns/{name}"), name
    assert not os.path.exists(os.path.join(seen["prefix"], "planted.pth"))
    # No mount can be undone to uncover what is under it: no capability is left in the
    # namespace that owns the mounts (a nested namespace's capabilities do not count).
    assert set(seen["umount"].values()) == {-1}
    if network:
        assert int(seen["status"]["CapEff"], 16) == 0


def test_every_process_of_the_run_dies_with_it():
    """A setsid double fork leaves the process group (and, not root, shares the worker's uid):
    the pid namespace still takes it down when the run's child is closed."""
    with start_sandbox(LIMITS) as sandbox:
        assert sandbox.setup([ESCAPE.to_json()], [])["ok"]
        assert sandbox.run_code("escape()")["ok"]
        assert len(escapees()) == 1
    deadline = time.monotonic() + 3
    while escapees() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert escapees() == []


def test_a_child_without_isolation_is_refused_unless_shared_uids_are_allowed():
    refused = SandboxLimits(memory_bytes=256 << 20, private_mounts=False, allow_shared_uid=False)
    started = time.monotonic()
    with pytest.raises(SandboxError, match="isolation unavailable") as err:
        start_sandbox(refused)
    assert err.value.reason == "start"
    assert "SANDBOX_ALLOW_SHARED_UID" in str(err.value)
    assert time.monotonic() - started < 5
    # Allowed: a child with the worker's own uid (uid_base=None: no dedicated uid either).
    allowed = SandboxLimits(
        memory_bytes=256 << 20, private_mounts=False, allow_shared_uid=True, uid_base=None
    )
    with start_sandbox(allowed) as sandbox:
        assert sandbox.info["isolated"] is False
        sandbox.setup([], [])
        assert sandbox.run_code("6 * 7")["output"] == 42


def test_worker_refuses_to_start_without_isolation():
    refused = SandboxLimits(memory_bytes=256 << 20, private_mounts=False, allow_shared_uid=False)
    with pytest.raises(SandboxError, match="isolation unavailable"):
        harden_worker_process(refused)
    allowed = SandboxLimits(
        memory_bytes=256 << 20, private_mounts=False, allow_shared_uid=True, uid_base=None
    )
    assert harden_worker_process(allowed)["isolated"] is False
    applied = harden_worker_process(LIMITS)
    assert applied["isolated"] and applied["dumpable"] == 0


def test_isolation_state_says_what_children_get_in_this_mode():
    state = isolation_state(LIMITS, refresh=True)
    assert json.loads(json.dumps(state)) == state  # plain data for the heartbeat and ops board
    assert state["mode"] == "isolated" and state["reason"] is None
    assert {"mount", "ipc", "pid", "net"} <= set(state["namespaces"])
    assert state["network"] == "own namespace"
    assert os.path.realpath("/run") in state["hidden"] and PROJECT_DIR in state["hidden"]
    if os.geteuid() == 0:
        assert state["uid_mode"] == "dedicated" and "user" not in state["namespaces"]
        assert state["root"] is True
    else:
        assert state["uid_mode"] == "userns" and "user" in state["namespaces"]
        assert state["root"] is False and state["worker_uid"] == os.geteuid()
    # Kept: asked again, the same probe answers (the heartbeat starts no child).
    assert isolation_state()["checked_at"] == state["checked_at"]


def test_isolation_state_without_isolation_names_the_mode_and_the_reason():
    def unisolated(allow: bool) -> SandboxLimits:
        return SandboxLimits(
            memory_bytes=256 << 20, private_mounts=False, uid_base=None, allow_shared_uid=allow
        )

    shared = isolation_state(unisolated(True), refresh=True)
    assert shared["mode"] == "shared-uid" and shared["uid_mode"] == "shared"
    assert "mount" not in shared["namespaces"] and shared["hidden"] == []
    assert "SANDBOX_ALLOW_SHARED_UID" in shared["reason"]
    refused = isolation_state(unisolated(False), refresh=True)
    assert refused["mode"] == "unavailable" and "isolation unavailable" in refused["reason"]


def test_the_worker_start_probe_is_the_isolation_state():
    isolation_state(LIMITS, refresh=True)
    refused = SandboxLimits(memory_bytes=256 << 20, private_mounts=False, allow_shared_uid=False)
    with pytest.raises(SandboxError):
        harden_worker_process(refused)
    assert isolation_state()["mode"] == "unavailable"  # what the heartbeat would show
    harden_worker_process(LIMITS)
    assert isolation_state()["mode"] == "isolated"


def test_allow_shared_uid_comes_from_the_setting(settings):
    settings.SANDBOX_ALLOW_SHARED_UID = True
    assert SandboxLimits().allow_shared_uid is True
    settings.SANDBOX_ALLOW_SHARED_UID = False
    assert SandboxLimits().allow_shared_uid is False


def test_system_check_warns_when_shared_uids_are_allowed(settings):
    settings.SANDBOX_ALLOW_SHARED_UID = False
    assert sandbox_shared_uid_allowed() == []
    settings.SANDBOX_ALLOW_SHARED_UID = True
    (warning,) = sandbox_shared_uid_allowed()
    assert warning.id == "agents.W001" and warning.level == checks.WARNING
    assert "agents.W001" in {m.id for m in checks.run_checks()}
