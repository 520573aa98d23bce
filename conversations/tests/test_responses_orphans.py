"""Responses whose process was lost are failed, never left queued or in progress."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.models import Response, ResponseStatus
from conversations.tests.factories import ResponseFactory
from inference.testing.fixtures import MODEL

LOST = "The server stopped before the response finished."


def _aged(response: Response, seconds: float) -> Response:
    """Pretend the response was last touched `seconds` ago (updated_at is auto_now)."""
    Response.objects.filter(pk=response.pk).update(
        updated_at=timezone.now() - timedelta(seconds=seconds)
    )
    return response


def test_reading_a_response_of_a_lost_process_fails_it(key_api, project, settings):
    settings.RESPONSES_ORPHANED_SECONDS = 60
    lost = _aged(
        ResponseFactory(project=project, status=ResponseStatus.IN_PROGRESS), 61
    )
    running = _aged(
        ResponseFactory(project=project, status=ResponseStatus.IN_PROGRESS), 30
    )
    data = key_api.get(f"/responses/{lost.public_id}").json()
    assert data["status"] == "failed"
    assert data["error"] == {"code": "server_error", "message": LOST}
    assert key_api.get(f"/responses/{running.public_id}").json()["status"] == (
        "in_progress"
    )


def test_the_command_fails_every_lost_response_and_nothing_else(db, settings, capsys):
    settings.RESPONSES_ORPHANED_SECONDS = 60
    lost = [
        _aged(ResponseFactory(status=status), 600)
        for status in (ResponseStatus.QUEUED, ResponseStatus.IN_PROGRESS)
    ]
    running = _aged(ResponseFactory(status=ResponseStatus.IN_PROGRESS), 5)
    done = _aged(ResponseFactory(status=ResponseStatus.COMPLETED), 600)
    call_command("fail_orphaned_responses")
    assert "Failed 2 orphaned response(s)." in capsys.readouterr().out
    statuses = dict(Response.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in lost] == ["failed", "failed"]
    assert statuses[running.pk] == "in_progress"
    assert statuses[done.pk] == "completed"


@pytest.mark.server
def test_a_running_response_is_touched_while_it_runs(live, settings):
    """The runner's heartbeat keeps a long generation from looking lost."""
    settings.RESPONSES_HEARTBEAT_SECONDS = 0.1
    created = live.post(
        "/v1/responses",
        {
            "model": MODEL,
            "input": "Hi",
            "background": True,
            "fake": {"tokens": 12, "delay_ms": 60},
        },
    ).json()
    row = Response.objects.get(public_id=created["id"])
    touched = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if row.status not in ("queued", "in_progress"):
            break
        touched.add(row.updated_at)
        time.sleep(0.05)
    assert row.status == "completed"
    assert len(touched) >= 3
