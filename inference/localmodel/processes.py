"""The child processes, ports and log paths of `localmodel serve`: start, probe, stop."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from django.conf import settings

from inference.localmodel import install
from inference.localmodel.install import MODEL_ALIAS

SERVER_ENV_OVERRIDES = ("HOST", "PORT", "CONFIG_FILE")
PID_FILE = "llama-server.pid"  # in the state directory, while the server runs


def shown(path: Path) -> str:
    """A path relative to the checkout when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(path)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GROUP_EXIT_POLLS = 50  # x 0.1 s for what is left of a child's group to exit


def exit_on_signal(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def stop_signals_handle() -> dict[int, Any]:
    """SIGTERM (a process manager), SIGINT (Ctrl-C, or kill -INT) and SIGHUP alike
    unwind `serve` to where it stops its children; return the handlers replaced."""
    previous: dict[int, Any] = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, exit_on_signal)
    return previous


def stop_signals_restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def stop_signals_ignore() -> None:
    """While the children are being stopped, a second signal must not cut it short."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def address(options: dict[str, Any]) -> str:
    host = options["host"]
    return f"[{host}]:{options['port']}" if ":" in host else f"{host}:{options['port']}"


def local_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (any status) within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> bool:
    """Signal the process group the child leads; False when none of it is left."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        return False
    return True


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a child started with start_new_session=True and everything it started
    (runserver's autoreloader runs the server in a child of its own): SIGTERM to its
    process group, SIGKILL to what is left of it after 10 s."""
    if process is None:
        return
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()
    for _ in range(GROUP_EXIT_POLLS):
        if not _signal_group(process, 0):
            return
        time.sleep(0.1)
    _signal_group(process, signal.SIGKILL)


def stale_server_stop(pid_file: Path) -> None:
    """Stop a llama.cpp server that an earlier `make run` left behind (killed -9)."""
    try:
        pid = int(pid_file.read_text())
        command = subprocess.run(  # noqa: S603
            ["ps", "-o", "command=", "-p", str(pid)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except (OSError, ValueError):
        return
    if "llama_cpp.server" in command and MODEL_ALIAS in command:
        os.kill(pid, signal.SIGTERM)
        time.sleep(1)
    pid_file.unlink(missing_ok=True)


def model_server_start(
    *, port: int, state: Path, say: Callable[[str], None]
) -> subprocess.Popen[bytes] | None:
    """Start llama.cpp on 127.0.0.1:`port` and wait until it answers (None: it did not)."""
    stale_server_stop(state / PID_FILE)
    if port_taken(port):
        say(
            f"Port {port} is taken by another program: the local model is not "
            "started (LOCAL_MODEL_PORT=... make run picks another port)."
        )
        return None
    log_path = state / "llama-server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(install.gguf_path()),
    ]
    command += ["--model_alias", MODEL_ALIAS, "--n_ctx", "8192"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    # llama_cpp.server binds to $HOST:$PORT over its options (make exports PORT).
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_OVERRIDES}
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    (state / PID_FILE).write_text(f"{server.pid}\n")
    try:
        answered = _wait_until_it_answers(server, port)
    except BaseException:  # a stop signal while it loads: it must not outlive `serve`
        model_server_stop(server, state=state)
        raise
    if answered is not None:
        model_server_stop(server, state=state)
        tail = log_path.read_text(errors="replace").splitlines()[-8:]
        say(
            f"The local model {answered} on 127.0.0.1:{port}; the end of "
            f"{shown(log_path)}:\n  " + "\n  ".join(tail)
        )
        return None
    say(f"Local model {MODEL_ALIAS} (llama.cpp) on 127.0.0.1:{port}.")
    return server


def _wait_until_it_answers(server: subprocess.Popen[bytes], port: int) -> str | None:
    """None once the server answers; else why it will not ("exited", ...)."""
    deadline = time.monotonic() + 90
    while not answers(f"http://127.0.0.1:{port}/v1/models"):
        if server.poll() is not None:
            return "exited"
        if time.monotonic() > deadline:
            return "did not answer"
        time.sleep(0.2)
    return None


def model_server_stop(server: subprocess.Popen[bytes], *, state: Path) -> None:
    """Stop what model_server_start() started, and forget its pid."""
    stop(server)
    (state / PID_FILE).unlink(missing_ok=True)
