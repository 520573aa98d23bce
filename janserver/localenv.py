"""The local .env of `make run`: DEBUG on, generated secrets, the SQLite path; written once.

Run as `python -m janserver.localenv [PATH]` (default: .env in the checkout). An existing
file is never touched: delete it to get a new one. janserver/settings.py reads it in
local development only (janserver.env.env_file_load).
"""

import secrets
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent

HEADER = """\
# janserver's local development settings, written by `make run` (never overwritten:
# delete this file to get new ones). janserver/settings.py reads it because it turns
# DJANGO_DEBUG on; production ignores it (JANSERVER_ENV_FILE names a production file).
# Variables set in the environment win over these. Every variable: .env.example.
"""


def local_env_text(*, checkout: Path) -> str:
    """The contents of a new local .env, with freshly generated secrets."""
    values = {
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SECRET": secrets.token_urlsafe(64),
        "APIKEY_SECRET": secrets.token_urlsafe(32),
        "MODEL_PROVIDER_SECRET": secrets.token_urlsafe(32),
        "DATABASE_URL": f"sqlite:///{(checkout / 'db.sqlite3').resolve()}",
    }
    return HEADER + "".join(f"{name}={value}\n" for name, value in values.items())


def local_env_write(*, path: Path, checkout: Path) -> bool:
    """Write a new local .env at `path`; False (and nothing written) when one exists."""
    try:
        with path.open("x", encoding="utf-8") as file:  # "x": never overwrite
            path.chmod(0o600)
            file.write(local_env_text(checkout=checkout))
    except FileExistsError:
        return False
    return True


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else CHECKOUT / ".env"
    if local_env_write(path=path, checkout=path.resolve().parent):
        print(f"Wrote {path}: DJANGO_DEBUG=1, new local secrets, SQLite db.sqlite3.")  # noqa: T201
    else:
        print(f"Using the existing {path} (never overwritten).")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
