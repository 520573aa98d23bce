"""The admin's static files are served by the ASGI app (no web server in front needed)."""

import httpx
import pytest
from django.core.management import call_command

from janserver.http.static import with_static_files


async def not_found(scope, receive, send):
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def collected(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--no-input", verbosity=0)
    return settings.STATIC_ROOT


async def test_collected_admin_css_is_served(collected):
    app = with_static_files(not_found)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        css = await client.get("/static/admin/css/base.css")
        other = await client.get("/v1/models")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert b"body" in css.content
    assert other.status_code == 404  # everything else reaches the wrapped app


def test_missing_static_root_serves_the_app_alone(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "missing"
    assert with_static_files(not_found) is not_found
