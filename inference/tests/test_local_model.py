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

import openai
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.localmodel import bootstrap, install
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
