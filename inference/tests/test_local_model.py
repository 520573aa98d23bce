"""`manage.py localmodel`: the local model of `make run` (llama.cpp serving SmolLM2).

The end-to-end test needs the model installed (`make local-model`) and is marked
`local_model`; without it, it is skipped (failed with JANSERVER_LOCAL_MODEL_REQUIRED=1,
as in CI). The others run everywhere, offline.
"""

import io
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.localmodel import bootstrap, install, processes
from inference.management.commands import localmodel
from janserver.tests.live_server import ROOT, free_port, manage, server_env

PORTABLE = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"


@pytest.mark.parametrize(
    ("machine", "flags", "expected"),
    [
        ("x86_64", {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f"}, PORTABLE),
        ("AMD64", {"avx2", "fma", "f16c"}, PORTABLE),
        ("x86_64", {"sse4_2", "avx"}, "-DGGML_NATIVE=OFF"),
        ("arm64", set(), None),
        ("aarch64", {"asimd"}, None),
    ],
)
def test_cmake_args_build_for_any_cpu_of_the_kind(machine, flags, expected):
    """x86-64 gets a portable build (AVX2 only where the CPU has it); ARM the defaults."""
    assert install.cmake_args(machine, flags) == expected


def test_build_step_is_the_last_compile_step_in_the_log():
    log = "Collecting llama-cpp-python\n  [1/193] cc a.c\n  [57/193] c++ b.cpp\nx [2] y"
    assert install.build_step(log) == "57/193"
    assert install.build_step("Downloading llama_cpp_python-0.3.36.tar.gz") is None


def test_gguf_path_finds_the_model_file_without_importing_the_package(
    tmp_path, monkeypatch
):
    package = tmp_path / "fake_smollm_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('never imported')\n")
    (package / "Model.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(install, "MODEL_MODULE", "fake_smollm_pkg")
    assert install.gguf_path() == package / "Model.Q4_1.gguf"
    monkeypatch.setattr(install, "MODEL_MODULE", "no_such_model_package")
    assert install.gguf_path() is None


@pytest.fixture
def stamp(tmp_path, monkeypatch):
    path = tmp_path / "venv-stamp"
    monkeypatch.setattr(install, "failed_stamp", lambda: path)
    return path


def test_install_without_a_compiler_says_why_and_how_to_use_vllm(
    tmp_path, stamp, monkeypatch
):
    """No compiler: a quick failure naming the fix and the vLLM alternative."""
    monkeypatch.setattr(install, "llama_installed", lambda: False)
    monkeypatch.setattr(install, "compiler_missing", lambda: True)
    with pytest.raises(CommandError) as failure:
        call_command("localmodel", "install", "--state-dir", str(tmp_path))
    message = str(failure.value)
    assert "C/C++ compiler" in message
    assert "JAN_INFERENCE_SETUP=true JAN_INFERENCE_MODEL_URL=" in message
    assert "manage.py addprovider" in message
    assert "C/C++ compiler" in stamp.read_text()


def test_install_drops_the_cached_wheel_and_rebuilds_when_llama_cpp_crashes(
    tmp_path, stamp, monkeypatch
):
    """A cached wheel built for another CPU dies with SIGILL: drop it and rebuild."""
    installs = []
    results = iter(["crashed", "ok"])
    monkeypatch.setattr(install, "llama_installed", lambda: True)
    monkeypatch.setattr(install, "gguf_path", lambda: tmp_path / "m.gguf")
    monkeypatch.setattr(install, "compiler_missing", lambda: False)
    monkeypatch.setattr(install, "smoke_test", lambda model: next(results))
    monkeypatch.setattr(
        localmodel.Command, "_pip", lambda self, *args, **kw: installs.append(args)
    )
    removed = []
    monkeypatch.setattr(
        localmodel.subprocess, "run", lambda command, **kw: removed.append(command[2:])
    )
    out = io.StringIO()
    call_command("localmodel", "install", "--state-dir", str(tmp_path), stdout=out)
    [args] = installs
    assert args[:2] == ("--force-reinstall", "--no-deps")
    assert removed == [["pip", "cache", "remove", "llama_cpp_python"]]
    assert args[-1].endswith("requirements-local.txt")
    assert "crashed" in out.getvalue()
    assert "Local model ready" in out.getvalue()
    assert not stamp.exists()


def test_status_fails_when_the_model_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(install, "model_available", lambda: False)
    with pytest.raises(CommandError, match="make local-model"):
        call_command("localmodel", "status", "--state-dir", str(tmp_path))


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.local_model
@pytest.mark.server
def test_make_run_streams_a_real_answer_from_the_local_model(
    local_model_installed, tmp_path
):
    """`localmodel serve` starts llama.cpp and the gateway; the SDK streams a reply."""
    port, model_port = free_port(), free_port()
    env = server_env(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.update(
        DJANGO_SETTINGS_MODULE="janserver.settings",  # as `make run`
        DJANGO_DEBUG="1",
        JAN_INFERENCE_SETUP="0",
        PORT=str(port),  # as `make run PORT=...` exports it
        HOST="127.0.0.1",
    )
    assert manage(env, "migrate", "--no-input").returncode == 0
    command = [sys.executable, "manage.py", "localmodel", "serve", "--port", str(port)]
    command += ["--model-port", str(model_port), "--state-dir", str(tmp_path)]
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while "janserver is ready" not in log.read_text(errors="replace"):
            assert serve.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        key = (tmp_path / "api-key").read_text().strip()
        assert key in log.read_text()
        assert re.search(
            r"curl -N http://127\.0\.0\.1:\d+/v1/chat/completions", log.read_text()
        )
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0
        )
        assert [m.id for m in client.models.list()] == [install.MODEL_ALIAS]
        chunks = list(
            client.chat.completions.create(
                model=install.MODEL_ALIAS,
                messages=[{"role": "user", "content": bootstrap.QUESTION}],
                stream=True,
                temperature=0,
                max_tokens=40,
                timeout=120,
            )
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    assert "Paris" in text
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert not _listening(model_port), "the llama.cpp server outlived `serve`"
    assert not _listening(port), "the gateway outlived `serve`"


# --- stopping `serve`: SIGTERM (a process manager) and SIGINT (Ctrl-C) alike ----------


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc: Linux)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def _serve_until_ready(tmp_path, *extra: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    env = server_env(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.update(
        DJANGO_SETTINGS_MODULE="janserver.settings",  # as `make run`
        DJANGO_DEBUG="1",
        JAN_INFERENCE_SETUP="0",
    )
    assert manage(env, "migrate", "--no-input").returncode == 0
    command = [sys.executable, "manage.py", "localmodel", "serve", "--port", str(port)]
    command += ["--state-dir", str(tmp_path), *extra]
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    for _ in range(1200):  # polled, at most a few minutes on a loaded machine
        if "janserver is ready" in log.read_text(errors="replace"):
            return serve, port, log
        assert serve.poll() is None, log.read_text()
        time.sleep(0.2)
    serve.kill()
    raise AssertionError(f"`serve` never got ready:\n{log.read_text()}")


def _stop_and_check(serve, signum, log) -> None:
    children = _descendants(serve.pid)
    serve.send_signal(signum)
    assert serve.wait(timeout=120) == 0, log.read_text()
    for _ in range(300):
        left = {pid for pid in children if _alive(pid)}
        if not left:
            return
        time.sleep(0.1)
    raise AssertionError(f"children outlived `serve` after {signum!r}: {left}")


@pytest.mark.server
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_the_gateway_on_sigterm_and_sigint_alike(tmp_path, signum):
    """The gateway (runserver and the server its autoreloader runs) stops with
    `serve`, whether a process manager sends SIGTERM or a user SIGINT to it alone."""
    serve, port, log = _serve_until_ready(tmp_path, "--no-model")
    try:
        gateway = _descendants(serve.pid)
        assert len(gateway) >= 2, "runserver and its autoreloaded server"
        _stop_and_check(serve, signum, log)
    finally:
        if serve.poll() is None:
            serve.kill()
    assert not _listening(port), "the gateway outlived `serve`"


@pytest.mark.local_model
@pytest.mark.server
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_llama_cpp_and_the_gateway_alike(
    local_model_installed, tmp_path, signum
):
    model_port = free_port()
    serve, port, log = _serve_until_ready(tmp_path, "--model-port", str(model_port))
    try:
        assert _listening(model_port)
        _stop_and_check(serve, signum, log)
    finally:
        if serve.poll() is None:
            serve.kill()
    assert not _listening(model_port), "the llama.cpp server outlived `serve`"
    assert not _listening(port), "the gateway outlived `serve`"
    assert not (tmp_path / "llama-server.pid").exists()


LEADER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def test_stop_ends_the_childs_whole_process_group(tmp_path):
    """What a child started (runserver's autoreloaded server) stops with it."""
    pid_file = tmp_path / "grandchild"
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER, str(pid_file)], start_new_session=True
    )
    for _ in range(300):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    processes.stop(leader)
    assert leader.returncode is not None
    for _ in range(100):
        if not _alive(grandchild):
            break
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_a_stop_signal_while_the_model_loads_stops_the_model_server(
    tmp_path, monkeypatch
):
    """SIGTERM or SIGINT arriving before llama.cpp answers: the server it started is
    stopped (and its pid file removed) before the interruption goes on."""
    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def popen(command, **kwargs):
        child = real_popen(
            [sys.executable, "-c", "import time; time.sleep(600)"], **kwargs
        )
        started.append(child)
        return child

    def interrupted(url):
        raise KeyboardInterrupt  # what exit_on_signal raises

    monkeypatch.setattr(processes.subprocess, "Popen", popen)
    monkeypatch.setattr(processes, "answers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        processes.model_server_start(port=free_port(), state=tmp_path, say=print)
    [server] = started
    assert server.returncode is not None
    assert not (tmp_path / processes.PID_FILE).exists()


@pytest.mark.django_db
def test_the_banner_tells_how_to_create_the_first_admin_user(django_user_model):
    """Until an admin user exists, `make run` prints the createsuperuser line; then
    only where the admin is."""
    base = "http://127.0.0.1:8080"
    hint = bootstrap.admin_hint(base)
    assert hint[-1].strip() == ".venv/bin/python manage.py createsuperuser"
    assert f"{base}/admin/" in hint[0]
    django_user_model.objects.create_superuser(email="boss@example.com", password="x")
    assert bootstrap.admin_hint(base) == [f"Admin: {base}/admin/"]
