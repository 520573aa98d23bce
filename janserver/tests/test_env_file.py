"""The local .env of `make run`: written once, read in local development only."""

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

from janserver import env as env_module
from janserver.env import env_file_load
from janserver.localenv import local_env_write
from janserver.tests.live_server import ROOT


@pytest.fixture
def environ(monkeypatch):
    """A private os.environ for env_file_load to fill."""
    fresh = {"PATH": os.environ.get("PATH", "")}
    monkeypatch.setattr(env_module.os, "environ", fresh)
    return fresh


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_local_env_file_that_turns_debug_on_is_read(tmp_path, environ):
    """Its variables are added; those already in the environment win."""
    local = write(tmp_path / ".env", "DJANGO_DEBUG=1\nJWT_SECRET=from-file\nX=1\n")
    environ["X"] = "from-environment"
    assert env_file_load(local) == local
    assert environ["DJANGO_DEBUG"] == "1"
    assert environ["JWT_SECRET"] == "from-file"
    assert environ["X"] == "from-environment"


@pytest.mark.parametrize(
    ("text", "environment"),
    [
        ("JWT_SECRET=from-file\n", {}),  # no DEBUG: a production host's stray file
        ("DJANGO_DEBUG=0\nJWT_SECRET=from-file\n", {}),
        ("DJANGO_DEBUG=1\nJWT_SECRET=from-file\n", {"DJANGO_DEBUG": "0"}),
        (
            "DJANGO_DEBUG=1\nJWT_SECRET=from-file\n",
            {"DJANGO_SETTINGS_MODULE": "janserver.settings_test"},
        ),
        (
            "DJANGO_DEBUG=1\nJWT_SECRET=from-file\n",
            {"JANSERVER_ENV_FILE": ""},
        ),
    ],
)
def test_production_and_tests_ignore_the_local_env_file(
    tmp_path, environ, text, environment
):
    """Without DEBUG from the file (or with DEBUG off in the environment), under the
    test settings, or with JANSERVER_ENV_FILE set empty, nothing is read."""
    local = write(tmp_path / ".env", text)
    environ.update(environment)
    assert env_file_load(local) is None
    assert "JWT_SECRET" not in environ


def test_janserver_env_file_names_a_file_read_in_production(tmp_path, environ):
    """JANSERVER_ENV_FILE is production's opt-in: read whatever DEBUG is."""
    chosen = write(tmp_path / "prod.env", "JWT_SECRET=from-chosen\n")
    write(tmp_path / ".env", "DJANGO_DEBUG=1\nAPIKEY_SECRET=local\n")
    environ["JANSERVER_ENV_FILE"] = str(chosen)
    assert env_file_load(tmp_path / ".env") == chosen
    assert environ["JWT_SECRET"] == "from-chosen"
    assert "APIKEY_SECRET" not in environ
    assert "DJANGO_DEBUG" not in environ


def test_janserver_env_file_naming_no_file_is_a_clear_error(tmp_path, environ):
    environ["JANSERVER_ENV_FILE"] = str(tmp_path / "missing.env")
    with pytest.raises(ImproperlyConfigured, match="JANSERVER_ENV_FILE names no file"):
        env_file_load(tmp_path / ".env")


def test_the_local_env_file_is_written_once_and_never_overwritten(tmp_path):
    """Debug on, long fresh secrets, the checkout's SQLite file, readable by its owner
    only; a second write leaves the first file as it was."""
    path = tmp_path / ".env"
    assert local_env_write(path=path, checkout=tmp_path) is True
    first = path.read_text()
    values = dotenv_values(path)
    assert values["DJANGO_DEBUG"] == "1"
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path.resolve() / 'db.sqlite3'}"
    assert len(values["DJANGO_SECRET_KEY"] or "") >= 50
    assert len(values["JWT_SECRET"] or "") >= 64
    assert len(values["APIKEY_SECRET"] or "") >= 32
    assert len(values["MODEL_PROVIDER_SECRET"] or "") >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_env_write(path=path, checkout=tmp_path) is False
    assert path.read_text() == first
    other = tmp_path / "other.env"
    local_env_write(path=other, checkout=tmp_path)
    assert dotenv_values(other)["JWT_SECRET"] != values["JWT_SECRET"]


# --- a fresh clone, as the README tells a new user to use it ---------------------------


def fresh_clone(destination: Path) -> Path:
    """The checkout's files as a clone has them (tracked and new, not ignored ones),
    with the test run's virtualenv as .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (destination / ".venv").symlink_to(Path(sys.prefix))
    return destination


def readme_line(start: str) -> str:
    """The README's first command line starting with `start`, exactly as printed."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.strip().startswith(start):
            return line.split("  #", 1)[0].strip()
    raise AssertionError(f"the README has no line starting with {start!r}")


def shell(clone: Path, line: str) -> subprocess.CompletedProcess[str]:
    """Run `line` in the clone as a new user's shell would: no janserver variables."""
    dropped = ("DJANGO_", "PYTEST", "DATABASE_", "REDIS_", "JWT_", "APIKEY_", "JAN")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    return subprocess.run(
        ["/bin/sh", "-c", line],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.server
def test_make_run_env_then_the_readme_createapikey_line_works_as_typed(tmp_path):
    """In a fresh clone, `make run`'s .env step, its migrate, then the README's
    `manage.py createapikey` line exactly as printed make a working project key; and
    `manage.py help` lists the project's commands, with no DJANGO_DEBUG=1 prefix."""
    clone = fresh_clone(tmp_path / "janserver")
    made = shell(clone, "make -o .venv/.installed .env")
    assert made.returncode == 0, made.stdout + made.stderr
    assert dotenv_values(clone / ".env")["DJANGO_DEBUG"] == "1"
    again = shell(clone, "make -o .venv/.installed .env")
    assert "up to date" in again.stdout  # the file is kept, never rewritten
    migrated = shell(clone, ".venv/bin/python manage.py migrate --no-input")
    assert migrated.returncode == 0, migrated.stderr

    line = readme_line(".venv/bin/python manage.py createapikey")
    assert "DJANGO_DEBUG" not in line
    created = shell(clone, line)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("sk-project_")
    check = f"from orgs.services import api_key_verify; api_key_verify(secret={key!r})"
    verified = shell(clone, f".venv/bin/python manage.py shell -c {shlex.quote(check)}")
    assert verified.returncode == 0, verified.stderr
    assert (clone / "db.sqlite3").exists()  # the SQLite path of the .env

    listed = shell(clone, ".venv/bin/python manage.py help")
    assert listed.returncode == 0, listed.stderr
    assert "createapikey" in listed.stdout
    assert "localmodel" in listed.stdout
