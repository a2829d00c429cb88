"""The protocol channel: JSON lines over two private fds, and stdio pointed away from them."""

from __future__ import annotations

import json
import os
import sys


class Channel:
    """JSON lines over two private fds, with a size cap on each request."""

    def __init__(self, rfd: int, wfd: int, max_request: int):
        self.inp = os.fdopen(rfd, "rb", buffering=1 << 16)
        self.wfd = wfd
        self.max_request = max_request

    def read(self) -> object:
        """The next request (any JSON value: the caller checks its shape); None at EOF."""
        line = self.inp.readline(self.max_request + 1)
        if not line:
            return None
        if len(line) > self.max_request:
            raise ValueError("request too large")
        return json.loads(line)

    def write(self, msg: dict) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        view = memoryview(data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]


def null_stdio() -> None:
    """Fresh /dev/null on fds 0/1/2 and sys.std*: nothing printed reaches a protocol channel."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    sys.stdin, sys.stdout, sys.stderr = open(os.devnull), sink, sink  # noqa: SIM115
