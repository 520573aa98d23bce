"""Static checks of the container images' files (no Docker engine runs in CI).

The Dockerfiles must start the same commands the Helm charts run; the entry point and the
health check script are exercised directly.
"""

import http.server
import importlib.util
import json
import os
import re
import shlex
import subprocess
import threading
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
GATEWAY_CHART = REPO / "charts" / "apps-charts" / "jan-api-gateway"
INFERENCE_CHART = REPO / "charts" / "apps-charts" / "jan-inference-model"
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
HEALTHCHECK = REPO / "docker" / "healthcheck.py"

Instruction = tuple[str, str]


def instructions(path: Path) -> list[Instruction]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path.name} ends inside a continued line"
    return result


def stages(path: Path) -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def one(stage: list[Instruction], keyword: str) -> str:
    values = [rest for kw, rest in stage if kw == keyword]
    assert len(values) == 1, f"{keyword}: {values}"
    return values[0]


def global_args(path: Path) -> dict[str, str]:
    args = {}
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
    return args


def chart_gateway_command() -> list[str]:
    template = (GATEWAY_CHART / "templates" / "deployment.yaml").read_text()
    (command,) = re.findall(r"^\s*command: (\[.*gunicorn.*\])$", template, re.MULTILINE)
    return json.loads(command)


# --- gateway image ----------------------------------------------------------------------


def test_gateway_dockerfile_is_multi_stage_on_slim_python_312():
    dockerfile = REPO / "Dockerfile"
    builder, final = stages(dockerfile)
    base = global_args(dockerfile)["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.12-slim(-\w+)?", base)
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")
    builder_runs = [rest for kw, rest in builder if kw == "RUN"]
    assert "/opt/venv/bin/pip install -r /tmp/requirements.txt" in builder_runs
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    # Nothing in the build context the final stage copies may be missing.
    for keyword, rest in builder + final:
        if keyword == "COPY" and not rest.startswith("--from"):
            source = rest.split()[0]
            assert (REPO / source).exists(), source


def test_gateway_image_runs_the_charts_command_as_non_root():
    _, final = stages(REPO / "Dockerfile")
    assert json.loads(one(final, "CMD")) == chart_gateway_command()
    assert json.loads(one(final, "ENTRYPOINT")) == ["/app/docker/entrypoint.sh"]
    user = [rest for kw, rest in final if kw == "USER"][-1]
    uid = user.split(":")[0]
    # Numeric, so that Kubernetes' runAsNonRoot can verify it; not root.
    assert uid.isdigit()
    assert int(uid) != 0
    values = yaml.safe_load((GATEWAY_CHART / "values.yaml").read_text())
    assert int(uid) == values["securityContext"]["runAsUser"]
    port = values["config"]["GUNICORN_BIND"].rsplit(":", 1)[1]
    assert one(final, "EXPOSE") == port == "8080"


def test_gateway_image_collects_static_files_at_build():
    _, final = stages(REPO / "Dockerfile")
    runs = " ".join(rest for kw, rest in final if kw == "RUN")
    assert "DJANGO_DEBUG=1 python manage.py collectstatic --no-input" in runs


def test_gateway_healthcheck_uses_python_urllib():
    _, final = stages(REPO / "Dockerfile")
    healthcheck = one(final, "HEALTHCHECK")
    assert (
        healthcheck.split("CMD", 1)[1].strip()
        == '["python", "/app/docker/healthcheck.py"]'
    )
    source = HEALTHCHECK.read_text()
    assert "urllib.request" in source
    assert "/healthcheck" in source


def test_dockerignore_keeps_local_state_out():
    ignored = (REPO / ".dockerignore").read_text().split()
    for pattern in (".git", ".venv", ".env", "db.sqlite3", "**/__pycache__"):
        assert pattern in ignored
    # Files the image needs stay in the context.
    for needed in ("requirements.txt", "docker", "manage.py", "gunicorn.conf.py"):
        assert needed not in ignored


def test_entrypoint_is_executable_and_parses():
    assert os.access(ENTRYPOINT, os.X_OK)
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)
    done = subprocess.run(
        [str(ENTRYPOINT), "echo", "started"], check=True, capture_output=True, text=True
    )
    assert done.stdout == "started\n"


# --- the health check script, against a stand-in server ---------------------------------


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("janserver_healthcheck", HEALTHCHECK)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def stand_in_server():
    """A server on 127.0.0.1 answering /healthcheck 200 only for Host example.org."""
    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = self.headers.get("Host")
            seen.append((self.path, host))
            ok = self.path == "/healthcheck" and host == "example.org"
            self.send_response(200 if ok else 400)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_healthcheck_sends_an_allowed_host(stand_in_server, monkeypatch):
    port, seen = stand_in_server
    healthcheck = load_healthcheck()
    monkeypatch.setenv("GUNICORN_BIND", f"0.0.0.0:{port}")
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", " .example.org,api.example.org")
    assert healthcheck.main() == 0
    assert seen == [("/healthcheck", "example.org")]
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "other.example")
    assert healthcheck.main() == 1


def test_healthcheck_fails_when_nothing_listens(monkeypatch):
    healthcheck = load_healthcheck()
    monkeypatch.setenv("GUNICORN_BIND", "0.0.0.0:1")
    assert healthcheck.main() == 1


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        (None, "localhost"),
        ("*", "localhost"),
        ("", "localhost"),
        ("a.example,b", "a.example"),
    ],
)
def test_healthcheck_host(monkeypatch, allowed, host):
    healthcheck = load_healthcheck()
    if allowed is None:
        monkeypatch.delenv("DJANGO_ALLOWED_HOSTS", raising=False)
    else:
        monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", allowed)
    assert healthcheck.probe_host() == host


# --- inference image --------------------------------------------------------------------


def test_inference_image_matches_the_chart():
    dockerfile = REPO / "Dockerfile.inference"
    (stage,) = stages(dockerfile)
    values = yaml.safe_load((INFERENCE_CHART / "values.yaml").read_text())
    assert one(stage, "FROM") == "vllm/vllm-openai:${VLLM_VERSION}"
    assert global_args(dockerfile)["VLLM_VERSION"] == values["image"]["tag"]
    assert values["image"]["repository"] == "vllm/vllm-openai"
    assert json.loads(one(stage, "ENTRYPOINT")) == ["vllm", "serve"]
    template = (INFERENCE_CHART / "templates" / "deployment.yaml").read_text()
    assert 'command: ["vllm", "serve"]' in template
    cmd = json.loads(one(stage, "CMD"))
    model = values["model"]
    assert cmd[0] == model["name"] == "janhq/Jan-v1-4B"
    assert cmd[1:] == [
        "--served-model-name",
        model["servedModelName"],
        "--host",
        "0.0.0.0",  # noqa: S104 (inside the container)
        "--port",
        str(values["service"]["port"]),
        *values["vllmArgs"],
    ]
    assert shlex.join(values["vllmArgs"]) == (
        "--max-num-batched-tokens 1024 --enable-auto-tool-choice "
        "--tool-call-parser hermes --reasoning-parser qwen3"
    )
    assert one(stage, "EXPOSE") == "8101"
