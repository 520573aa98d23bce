"""Container HEALTHCHECK: GET /healthcheck on the local server (Python's urllib; no curl).

Sends a Host header the server accepts (the first DJANGO_ALLOWED_HOSTS entry), since
Django answers 400 to any other; /healthcheck is exempt from the HTTPS redirect.
"""

import os
import sys
import urllib.request


def probe_host() -> str:
    hosts = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")
    first = next((host.strip() for host in hosts if host.strip()), "")
    # ".example.com" also serves example.com itself; "*" serves anything.
    first = first.removeprefix(".")
    return "localhost" if first in {"", "*"} else first


def main() -> int:
    port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8080").rsplit(":", 1)[-1]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthcheck", headers={"Host": probe_host()}
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 (a fixed http URL)
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
