"""The usage dashboard in a real browser: Debian's headless Chromium driven by
Selenium against a live server on 127.0.0.1, with JavaScript (charts drawn) and
without (the tables alone). Screenshots go to the test's temporary directory, and to
docs/images/ when UPDATE_DOCS_SCREENSHOTS=1."""

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.urls import reverse

from accounts.tests.factories import SuperUserFactory
from inference import routing
from inference import usage as ledger
from inference.models import UsageStatus
from inference.testing.fixtures import make_provider
from janserver.tests.live_server import free_port
from limits.models import Budget
from orgs.services import api_key_create
from orgs.tests.factories import (
    OrganizationFactory,
    ProjectFactory,
    ProjectMemberFactory,
)
from usage.tests.factories import ModelPriceFactory, record_usage

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery staple"
# A hang guard only: every wait returns as soon as its condition holds.
WAIT_SECONDS = 60


def _browser_or_skip() -> None:
    """Skip (with the reason) only where Chromium could not be installed; in CI a
    missing browser that .ci/run did not report as uninstallable is a failure."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (requirements-dev.txt)")
    if not missing:
        return
    reason = os.environ.get("DASHBOARD_BROWSER_UNAVAILABLE")
    if reason:
        pytest.skip(f"no browser: {reason}")
    if os.environ.get("CI"):
        pytest.fail(f"{', '.join(missing)} missing in CI: .ci/run installs them")
    pytest.skip(
        f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver "
        "(as .ci/run does)"
    )


@pytest.fixture
def site_url(clean_state, settings) -> Iterator[str]:
    """janserver with its static files (the admin's and the vendored Chart.js) on a
    real uvicorn server on 127.0.0.1, sharing the test database."""
    _browser_or_skip()
    # Plain HTTP on 127.0.0.1: the browser would drop cookies marked Secure.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    from janserver.asgi import application

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            ASGIStaticFilesHandler(application),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _chromium(*, javascript: bool):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1000",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


@pytest.fixture
def browsers(monkeypatch) -> Iterator[dict]:
    """Chromium with JavaScript and without; quit at the end."""
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager downloads nothing
    started: dict = {}

    def start(javascript: bool):
        started[javascript] = _chromium(javascript=javascript)
        return started[javascript]

    yield {"start": start}
    for driver in started.values():
        driver.quit()


def _usage(organization, projects, providers) -> None:
    """A day of usage of two projects on two models and two providers, some of it
    refused by rate limits or budgets (429) or failed upstream."""
    ModelPriceFactory(
        model="jan-v1-4b", input_per_million="0.2", output_per_million="0.6"
    )
    ModelPriceFactory(model="jan-v2-30b", input_per_million="1", output_per_million="3")
    now = datetime.now(UTC)
    models = ("jan-v1-4b", "jan-v2-30b")
    for hours_ago in range(24):
        at = now - timedelta(hours=hours_ago, minutes=5)
        for index, (project, key) in enumerate(projects):
            model, provider = models[index], providers[index]
            for request in range(4 + (hours_ago * 7 + index * 3) % 9):
                record_usage(
                    at=at,
                    organization_id=organization.pk,
                    project_id=project.pk,
                    api_key_id=key.pk,
                    provider_id=provider.pk,
                    model=model,
                    prompt_tokens=200 + 40 * request,
                    completion_tokens=120 + 25 * request,
                    time_to_first_token_ms=90.0 + 140 * index + 60 * (request % 4),
                )
            if hours_ago % 5 == index:
                record_usage(
                    at=at,
                    organization_id=organization.pk,
                    project_id=project.pk,
                    api_key_id=key.pk,
                    model=model,
                    status=UsageStatus.RATE_LIMITED
                    if hours_ago % 2
                    else UsageStatus.OVER_BUDGET,
                    http_status=429,
                    prompt_tokens=0,
                    completion_tokens=0,
                )
            if hours_ago % 7 == 3:
                record_usage(
                    at=at,
                    organization_id=organization.pk,
                    project_id=project.pk,
                    api_key_id=key.pk,
                    provider_id=provider.pk,
                    model=model,
                    status=UsageStatus.UPSTREAM_ERROR,
                    http_status=502,
                    prompt_tokens=0,
                    completion_tokens=0,
                )
    ledger.flush()


def _log_in(driver, site_url: str, user, next_url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{site_url}{reverse('admin:login')}?{urlencode({'next': next_url})}")
    driver.find_element(By.ID, "id_username").send_keys(user.email)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def _wait(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(condition)


def _screenshot(driver, path: Path) -> Path:
    """The whole page (the window made as tall as it, within reason)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1600, min(int(height) + 200, 6000))
    driver.save_screenshot(str(path))
    return path


def _keep_for_docs(shot: Path, name: str) -> None:
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "images" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)


def test_the_dashboard_in_a_browser_with_and_without_javascript(
    site_url, browsers, fake, tmp_path
):
    """Logged in through the admin's form: with JavaScript every chart is drawn on
    a canvas above its table, and a probe of the providers answers; without, the
    same tables hold the numbers and no canvas is drawn."""
    from selenium.webdriver.common.by import By

    admin = SuperUserFactory(password=PASSWORD)
    organization = OrganizationFactory(name="Acme")
    first = ProjectFactory(name="Search", organization=organization)
    second = ProjectFactory(name="Support bot", organization=organization)
    projects = []
    for project in (first, second):
        ProjectMemberFactory(project=project, user=admin, role="member")
        key, _ = api_key_create(
            kind="project",
            organization=organization,
            project=project,
            owner=admin,
            name=f"{project.name} backend",
        )
        projects.append((project, key))
    up = make_provider(fake.base_url, name="vLLM A", models=("jan-v1-4b",))
    down = make_provider("http://127.0.0.1:9/v1", name="vLLM B", models=("jan-v2-30b",))
    routing._unhealthy[down.pk] = time.monotonic()  # as a failed relay leaves it
    Budget.objects.create(
        organization=organization, monthly_limit_usd="50.00", alert_threshold_usd="0.01"
    )
    _usage(organization, projects, (up, down))
    dashboard = (
        f"{reverse('admin:usage_usagedashboard_changelist')}"
        f"?organization={organization.public_id}&window=24h"
    )

    driver = browsers["start"](True)
    _log_in(driver, site_url, admin, dashboard)
    _wait(
        driver,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".usage-chart canvas")) >= 7,
    )
    canvases = driver.find_elements(By.CSS_SELECTOR, ".usage-chart canvas")
    assert all(c.size["width"] > 100 and c.size["height"] > 100 for c in canvases)
    drawn = driver.execute_script(
        "return Array.from(document.querySelectorAll('.usage-chart canvas'))"
        ".map(c => Chart.getChart(c).data.datasets[0].data.some(v => v > 0))"
    )
    assert drawn == [True] * len(canvases)
    total = driver.find_element(By.CSS_SELECTOR, "#usage-series tfoot td").text
    assert int(total.replace(",", "")) > 200
    shot = _screenshot(driver, tmp_path / "dashboard.png")
    _keep_for_docs(shot, "dashboard.png")

    driver.find_element(By.CSS_SELECTOR, "#usage-probe input[type=submit]").click()
    _wait(driver, lambda d: "Probed with" in d.page_source)
    cells = {
        row.find_element(By.CSS_SELECTOR, "th a").text: row.text
        for row in driver.find_elements(
            By.CSS_SELECTOR, "#usage-providers-table tbody tr"
        )
    }
    assert "answers" in cells["vLLM A"]
    assert "in rotation" in cells["vLLM A"]
    assert "unreachable" in cells["vLLM B"]
    assert "out of rotation" in cells["vLLM B"]
    _screenshot(driver, tmp_path / "dashboard-probed.png")

    driver.get(f"{site_url}{reverse('admin:orgs_project_change', args=[first.pk])}")
    _wait(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#usage-object .usage-chart canvas"),
    )
    shot = _screenshot(driver, tmp_path / "project.png")
    _keep_for_docs(shot, "project-usage.png")

    plain = browsers["start"](False)
    _log_in(plain, site_url, admin, dashboard)
    _wait(plain, lambda d: d.find_elements(By.ID, "usage-series"))
    for table in (
        "usage-series",
        "usage-models-table",
        "usage-projects-table",
        "usage-keys-table",
        "usage-budgets-table",
        "usage-providers-table",
    ):
        assert plain.find_element(By.ID, table).is_displayed(), table
    assert plain.find_elements(By.TAG_NAME, "canvas") == []
    assert plain.find_element(By.CSS_SELECTOR, "#usage-series tfoot td").text == total
    assert "Search backend" in plain.find_element(By.ID, "usage-keys-table").text
    _screenshot(plain, tmp_path / "dashboard-no-javascript.png")
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [
        "dashboard-no-javascript.png",
        "dashboard-probed.png",
        "dashboard.png",
        "project.png",
    ]
