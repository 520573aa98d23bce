"""Services the fault tests stop and start again on the same port: a private
redis-server and the fake vLLM, each a subprocess of the test."""

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from janserver.tests.live_server import ROOT

STARTUP_SECONDS = 30  # a hang guard on a loaded machine


class Service:
    """A subprocess listening on 127.0.0.1:`port`, restartable on that port."""

    def __init__(
        self, command: list[str], port: int, ready: Callable[[], bool], log: Path
    ) -> None:
        self.command, self.port, self.ready, self.log = command, port, ready, log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> "Service":
        assert self.process is None, "already running"
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
            )
        self.starts += 1
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.command[0]} did not start in time")
            time.sleep(0.05)
        return self

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Send `signum` and wait for the process to end (SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the process outright (SIGKILL): nothing it holds is closed cleanly."""
        self.stop(signal.SIGKILL)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_server(port: int, directory: Path) -> Service:
    """A private redis-server on `port` that keeps nothing on disk (not yet started)."""
    binary = shutil.which("redis-server")
    assert binary is not None
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]
    return Service(command, port, lambda: _answers_ping(port), directory / "redis.log")


def fake_vllm(port: int, log: Path, *options: str) -> Service:
    """The fake vLLM (`python -m inference.testing.fake_vllm`) on `port` (not yet
    started); `options` are its command-line options."""
    command = [
        sys.executable,
        "-m",
        "inference.testing.fake_vllm",
        "--port",
        str(port),
        *options,
    ]

    def ready() -> bool:
        try:
            url = f"http://127.0.0.1:{port}/health"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    return Service(command, port, ready, log)
