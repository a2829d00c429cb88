"""The sandbox execution layer driven by a real CodeAgent with a scripted model. No database."""

import os
import statistics
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from smolagents import CodeAgent
from smolagents.monitoring import LogLevel
from smolagents.utils import AgentError

from agents.runtime.executor import SandboxExecutor
from agents.runtime.pool import SandboxPool
from agents.runtime.proxy import SandboxProxyTool, proxy_tools
from agents.runtime.sandbox import PROJECT_DIR, Sandbox, SandboxError, SandboxLimits
from tests.agents.abuse_corpus import ScriptedModel, code_block
from tools_registry.specs import ToolSpec

LIMITS = SandboxLimits(memory_bytes=256 << 20, cpu_seconds=2, action_timeout=5.0, max_processes=16)

PID_TOOL = ToolSpec(
    name="child_pid",
    description="The pid of the process that runs this tool.",
    output_type="integer",
    source=textwrap.dedent(
        '''
        import os

        from smolagents import tool


        @tool
        def child_pid() -> int:
            """The pid of the process that runs this tool."""
            return os.getpid()
        '''
    ),
)

INFO_TOOL = ToolSpec(
    name="whoami",
    description="Describe the process that runs this tool.",
    inputs={"greeting": {"type": "string", "description": "Echoed back."}},
    output_type="object",
    source=textwrap.dedent(
        """
        import os

        from smolagents import Tool


        class WhoAmI(Tool):
            name = "whoami"
            description = "Describe the process that runs this tool."
            inputs = {"greeting": {"type": "string", "description": "Echoed back."}}
            output_type = "object"

            def forward(self, greeting):
                return {"pid": os.getpid(), "uid": os.getuid(), "env": dict(os.environ),
                        "greeting": greeting}
        """
    ),
)

DIE_TOOL = ToolSpec(
    name="die",
    description="Kill the process running it.",
    output_type="any",
    source=textwrap.dedent(
        '''
        import os

        from smolagents import tool


        @tool
        def die() -> int:
            """Kill the process running it."""
            os._exit(7)
        '''
    ),
)


@pytest.fixture(scope="module")
def pool():
    pool = SandboxPool(2, LIMITS)
    pool.wait_warm()
    yield pool
    pool.shutdown()


def pid_inside(sandbox) -> int:
    """The child's own pid as its code sees it: 1 in its own pid namespace."""
    return 1 if sandbox.info.get("pid_ns") else sandbox.pid


def make_agent(pool, responses, specs=(), imports=("json",), **executor_kwargs):
    executor = SandboxExecutor(list(imports), pool=pool, **executor_kwargs)
    agent = CodeAgent(
        tools=proxy_tools(list(specs)),
        model=ScriptedModel([code_block(r) for r in responses]),
        executor=executor,
        additional_authorized_imports=list(imports),
        max_steps=4,
        verbosity_level=LogLevel.OFF,
    )
    executor.attach(agent)
    return agent, executor


def test_two_step_run_executes_tools_in_the_child(pool):
    agent, executor = make_agent(
        pool,
        [
            "p = child_pid()\ninfo = whoami(greeting='hi')\nprint(p, info['uid'])",
            "final_answer({'pid': p, 'info': info})",
        ],
        specs=[PID_TOOL, INFO_TOOL],
    )
    child = pid_inside(executor.sandbox)
    with agent:
        result = agent.run("Who runs the tools?", return_full_result=True)
    assert result.state == "success"
    out = result.output
    assert out["pid"] == child != os.getpid()  # variables persisted from step 1 to step 2
    assert out["info"]["pid"] == child
    assert out["info"]["env"] == {}
    assert out["info"]["greeting"] == "hi"
    if os.geteuid() == 0:
        assert out["info"]["uid"] != 0
    assert str(child) in agent.memory.steps[1].observations
    # the proxies never ran in-process
    with pytest.raises(RuntimeError, match="only inside the sandbox"):
        agent.tools["child_pid"]()


def test_disallowed_import_is_a_step_error_and_the_run_continues(pool):
    agent, _ = make_agent(
        pool, ["import os\nprint(os.getcwd())", "import json\nfinal_answer(json.dumps([1]))"]
    )
    with agent:
        assert agent.run("go") == "[1]"
    assert "Import of os is not allowed" in str(agent.memory.steps[1].error)


def test_final_answer_output_is_json_safe(pool):
    agent, _ = make_agent(pool, ["final_answer({'a': (1, 2), 's': {3}, 'n': None})"])
    with agent:
        assert agent.run("go") == {"a": [1, 2], "s": "{3}", "n": None}


def test_wall_clock_timeout_kills_a_hang_promptly():
    with Sandbox(LIMITS) as sandbox:
        sandbox.wait_ready()
        sandbox.setup([], [])
        start = time.monotonic()
        with pytest.raises(SandboxError) as err:
            sandbox.run_code("import time\ntime.sleep(100)", timeout=1.0)
        took = time.monotonic() - start
        assert err.value.reason == "timeout"
        assert 1.0 <= took < 1.6
        assert not sandbox.alive


def test_kill_from_another_thread_unblocks_run_code():
    with Sandbox(LIMITS) as sandbox:
        sandbox.wait_ready()
        sandbox.setup([], [])
        threading.Timer(0.3, sandbox.kill, args=("stop requested",)).start()
        start = time.monotonic()
        with pytest.raises(SandboxError, match="stop requested") as err:
            sandbox.run_code("import time\ntime.sleep(100)", timeout=30)
        assert err.value.reason == "killed"
        assert time.monotonic() - start < 1.0


def test_cancel_stops_the_agent_within_a_second(pool):
    agent, executor = make_agent(pool, ["import time\ntime.sleep(100)", "final_answer(1)"])
    threading.Timer(0.5, executor.cancel).start()
    start = time.monotonic()
    with agent, pytest.raises(AgentError, match="interrupted"):
        agent.run("go")
    assert time.monotonic() - start < 1.5
    assert executor.stop_reason == "cancelled"
    assert "Run stopped (cancelled)" in str(agent.memory.steps[1].error)


def test_cleanup_from_another_thread_stops_the_run(pool):
    """The worker's abort path: interrupt the agent and discard its child from a monitor."""
    agent, executor = make_agent(pool, ["import time\ntime.sleep(100)", "final_answer(1)"])
    child = executor.sandbox

    def abort():
        agent.interrupt()
        executor.cleanup()

    threading.Timer(0.5, abort).start()
    start = time.monotonic()
    with pytest.raises(AgentError, match="interrupted"):
        agent.run("go")
    assert time.monotonic() - start < 1.5
    assert "Run stopped (closed)" in str(agent.memory.steps[1].error)
    assert not child.alive and executor.sandbox is None


def test_executor_accepts_an_acquired_child(pool):
    sandbox = pool.acquire()
    executor = SandboxExecutor(["json"], sandbox=sandbox)
    assert executor.sandbox is sandbox and executor.limits is sandbox.limits
    executor.send_tools({})
    assert executor("final_answer(2)").output == 2
    executor.cleanup()
    assert not sandbox.alive


def test_turn_deadline_bounds_the_run(pool):
    agent, executor = make_agent(
        pool, ["import time\ntime.sleep(100)", "final_answer(1)"], deadline=time.monotonic() + 1.0
    )
    start = time.monotonic()
    with agent, pytest.raises(AgentError, match="interrupted"):
        agent.run("go")
    assert time.monotonic() - start < 1.8
    assert executor.stop_reason == "deadline"


def test_child_dying_mid_run_is_an_error_then_a_fresh_child(pool):
    agent, executor = make_agent(
        pool, ["x = 1\ndie()", "final_answer(child_pid())"], specs=[DIE_TOOL, PID_TOOL]
    )
    first = executor.sandbox.pid
    with agent:
        second = agent.run("go")
    assert "exited with code 7" in str(agent.memory.steps[1].error)
    assert executor.restarts == 1
    assert second not in (first, os.getpid())


def test_protocol_garbage_never_crashes_the_parent():
    with Sandbox(LIMITS) as sandbox:
        sandbox.wait_ready()
        spec = ToolSpec(
            name="flood",
            description="Write garbage to every fd.",
            output_type="any",
            source=textwrap.dedent(
                '''
                import os

                from smolagents import tool


                @tool
                def flood() -> str:
                    """Write garbage to every fd."""
                    for fd in range(3, 64):
                        try:
                            os.write(fd, b"x" * (6 << 20))
                        except OSError:
                            pass
                    return "ok"
                '''
            ),
        )
        assert sandbox.setup([spec.to_json()], [])["ok"]
        with pytest.raises(SandboxError) as err:
            sandbox.run_code("flood()", timeout=5)
        assert err.value.reason in ("protocol", "died")
        assert not sandbox.alive


def test_setup_error_is_reported(pool):
    broken = ToolSpec(name="broken", description="d", source="raise ValueError('nope')\n")
    agent, _ = make_agent(pool, ["final_answer(1)"], specs=[broken])
    with agent, pytest.raises(SandboxError, match="nope"):
        agent.run("go")


def test_proxy_tools_refuse_duplicates_reserved_and_bad_specs():
    with pytest.raises(ValueError, match="duplicate"):
        proxy_tools([PID_TOOL, PID_TOOL])
    with pytest.raises(ValueError, match="reserved"):
        proxy_tools([ToolSpec(name="final_answer", description="d", source="x")])
    with pytest.raises(ValueError, match="no source"):
        proxy_tools([ToolSpec(name="empty", description="d")])
    tool = proxy_tools([INFO_TOOL])[0]
    assert isinstance(tool, SandboxProxyTool)
    assert "def whoami(greeting: string) -> object" in tool.to_code_prompt()


def test_pool_warm_acquire_is_fast_and_cold_is_not():
    with SandboxPool(2, LIMITS) as pool:
        assert pool.wait_warm(15)
        warm = []
        for _ in range(2):
            start = time.perf_counter()
            sandbox = pool.acquire()
            warm.append(time.perf_counter() - start)
            sandbox.close()
            pool.wait_warm(15)
    with SandboxPool(0, LIMITS) as cold_pool:
        start = time.perf_counter()
        sandbox = cold_pool.acquire()
        cold = time.perf_counter() - start
        round_trips = []
        sandbox.setup([], [])
        for _ in range(20):
            start = time.perf_counter()
            assert sandbox.run_code("x = 1 + 1\nx")["output"] == 2
            round_trips.append(time.perf_counter() - start)
        sandbox.close()
    print(
        f"\nwarm acquire {max(warm) * 1000:.2f} ms, cold acquire {cold * 1000:.0f} ms, "
        f"code action round trip p50 {statistics.median(round_trips) * 1000:.2f} ms"
    )
    assert max(warm) < 0.05
    assert cold > max(warm)
    assert statistics.median(round_trips) < 0.02


def test_concurrent_runs_each_get_their_own_child(pool):
    results, errors = {}, []

    def one(n):
        try:
            agent, executor = make_agent(
                pool, [f"n = {n}\np = child_pid()", "final_answer([n, p])"], specs=[PID_TOOL]
            )
            child = executor.sandbox.pid
            with agent:
                results[n] = (agent.run("go"), child, pid_inside(executor.sandbox))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(results) == list(range(8))
    for n, (output, _child, inside) in results.items():
        assert output == [n, inside]
    assert len({child for _out, child, _inside in results.values()}) == 8


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to simulate a non-root worker")
def test_harden_worker_process_hides_environ_from_same_uid_children():
    script = textwrap.dedent(
        """
        import ctypes, os, sys
        sys.path.insert(0, sys.argv[1])
        from agents.runtime.sandbox import harden_worker_process  # before losing /root/.pyenv
        # Become an ordinary non-root process (setuid makes it non-dumpable; undo that).
        os.setgroups([])
        os.setgid(640999)
        os.setuid(640999)
        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE 1
        if sys.argv[2] == "harden":
            assert harden_worker_process(check_isolation=False)["dumpable"] == 0
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                data = open(f"/proc/{parent}/environ", "rb").read()
                os._exit(10 if b"AGENTBAY_CANARY" in data else 11)
            except PermissionError:
                os._exit(20)
        os._exit(os.waitpid(pid, 0)[1] >> 8)
        """
    )

    def run(mode):
        return subprocess.run(
            [sys.executable, "-c", script, PROJECT_DIR, mode],
            env={"AGENTBAY_CANARY": "secret"},
            timeout=30,
        ).returncode

    assert run("plain") == 10  # control: a same-uid child reads the worker's environment
    assert run("harden") == 20  # hardened: permission denied
