"""Sandbox child: runs one agent run's code actions and tool calls, and nothing else.

Normally forked by the fork server (zygote): ``python -I sandbox_child --zygote '<json>'`` (this
directory, run by path: see ``__main__.py``), started by ``agents.runtime.zygote.ForkServer``
with an empty environment in its own session. The zygote does steps 1-2 once, then forks one
child per request (see ``forkserver.zygote_main``); the forked child sheds what it inherited
(``forkserver._forked_child``) and does steps 3-5. Without the fork server the child is started
directly as ``python -I sandbox_child '<config json>'`` (``serve.direct_main``) and does every
step itself. This package is self-contained (stdlib + smolagents only, never Django or project
code) and never trusts anything it runs.

Modules: ``channel`` (the protocol's private fds), ``isolation`` (steps 2-4, and the network
namespace at setup), ``serve`` (step 5: the request loop and its ops), ``forkserver`` (the
zygote's loop and the start of a forked child).

Start-up, in this order:
1. Move the protocol to private fds and point fds 0/1/2 at /dev/null, so nothing user code
   prints can reach the protocol channel.
2. Pre-import smolagents (the trusted, slow part: ~0.4 s) with ``dotenv.load_dotenv`` disarmed
   (importing smolagents would load a project ``.env``), then clear ``os.environ`` again.
3. A private mount namespace (as root directly; not root, inside an unprivileged user
   namespace mapping its uid to itself) with a size/inode-limited tmpfs as the working dir
   (also bound on /tmp, /var/tmp, /dev/shm) and the configured paths (the project dir, /home,
   /root, /run, /var/run) hidden under empty tmpfs, keeping the interpreter's own prefix
   visible and read-only. Then, when possible, a pid namespace: this process forks once
   more, stays outside as the supervisor, and the new child (pid 1 inside) mounts a fresh
   /proc and goes on. Then, as root, drop to the configured uid (setgroups([]), setgid,
   setuid); not root, drop every capability. Each step is reported in the ready message
   (``isolated`` is what the worker requires).
4. no_new_privs, parent-death signal, rlimits (AS, CPU, NPROC, NOFILE, FSIZE, CORE=0).
5. Say ``ready`` and serve JSON lines: one request in, one response out.

Ops (requests are ``{"op": ..., ...}``; every response has ``"ok"``):
- ``setup {tools: [ToolSpec json], allowed_imports: [str], variables: {}, network: bool}``
  defines custom tools from their source (written to a file and imported, so ``@tool`` and
  ``inspect.getsource`` work), instantiates built-ins from ``smolagents.default_tools``, adds
  ``FinalAnswerTool`` and creates a ``LocalPythonExecutor`` (allowed imports as first filter,
  no thread timeout: the parent owns the wall clock). ``network: false`` tries an unprivileged
  user+network namespace (no interfaces but a down loopback).
- ``vars {variables}``: merge JSON variables into the executor state.
- ``run {code}`` -> ``{ok, output, logs, is_final_answer}`` or ``{ok: false, error, logs}``;
  the output is made JSON-safe (JSON types pass, anything else becomes its truncated repr).
- ``ping`` -> ``{ok, pid, uid}``.
"""
