"""A local, scriptable OpenAI-compatible chat server for tests and benchmarks.

The real `OpenAIServerModel` talks to it over HTTP on 127.0.0.1, so tests exercise the
product's provider path with no network. What it answers depends on the requested model:

- a name in `server.scripts`: the list of assistant replies; reply n is sent for the n-th
  model call of the current task (assistant messages since the last "New task"), and the
  last reply repeats when the script runs out;
- `echo`: final_answer(<the current task text>);
- `remember`: final_answer(<every task the conversation has seen, joined by " | ">);
- `slow-<seconds>`: waits, then `final_answer("slow done")`;
- `sleepy-code`: code that sleeps for a long time in the sandbox, then a final answer;
- `status-<code>`: answers that HTTP status (500, 429...);
- `hang`: never answers (until the server stops).
Every request is recorded in `server.requests`.
"""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TWO_STEP = [
    "Thought: I will compute the product first.\n<code>\nx = 6 * 7\nprint(x)\n</code>",
    "Thought: I have it.\n<code>\nfinal_answer(f'The answer is {x}')\n</code>",
]


def _parts(message: dict) -> list[str]:
    # smolagents merges consecutive same-role messages, so an observation and the next
    # task can share one user message, even one text part.
    content = message.get("content")
    if isinstance(content, list):
        return [part.get("text", "") for part in content if isinstance(part, dict)]
    return [content or ""]


def _message_tasks(message: dict) -> list[str]:
    if message.get("role") != "user":
        return []
    return [task.strip() for part in _parts(message) for task in part.split("New task:\n")[1:]]


def _tasks(messages: list[dict]) -> list[str]:
    return [task for message in messages for task in _message_tasks(message)]


def _call_number(messages: list[dict]) -> int:
    """0 for the first model call of the current task, 1 for the second..."""
    count = 0
    for message in reversed(messages):
        if _message_tasks(message):
            break
        if message.get("role") == "assistant":
            count += 1
    return count


class FakeOpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scripts: dict[str, list[str]] = {"two-step": TWO_STEP}
        self.requests: list[dict] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> "FakeOpenAIServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def reply_for(self, model: str, messages: list[dict]) -> tuple[int, str]:
        tasks = _tasks(messages)
        n = _call_number(messages)
        if model in self.scripts:
            script = self.scripts[model]
            return 200, script[min(n, len(script) - 1)]
        if model == "echo":
            return 200, f"<code>\nfinal_answer({json.dumps(tasks[-1] if tasks else '')})\n</code>"
        if model == "remember":
            return 200, f"<code>\nfinal_answer({json.dumps(' | '.join(tasks))})\n</code>"
        if match := re.fullmatch(r"slow-([\d.]+)", model):
            self.stopping.wait(float(match.group(1)))
            return 200, '<code>\nfinal_answer("slow done")\n</code>'
        if model == "sleepy-code":
            if n == 0:
                return 200, "<code>\nimport time\ntime.sleep(60)\n</code>"
            return 200, '<code>\nfinal_answer("woke up")\n</code>'
        if match := re.fullmatch(r"status-(\d{3})", model):
            return int(match.group(1)), ""
        if model == "hang":
            self.stopping.wait(3600)
            return 500, ""
        return 404, ""


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAIServer

    def log_message(self, format, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(body)
        status, content = self.server.reply_for(body.get("model", ""), body.get("messages", []))
        if status != 200:
            payload = {"error": {"message": f"fake server status {status}", "code": status}}
        else:
            payload = {
                "id": f"chatcmpl-{len(self.server.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
            }
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
