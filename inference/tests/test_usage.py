"""The usage ledger's write path: queued on the hot path, written in batches off it."""

import asyncio
import contextvars
import logging

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from accounts.tests.factories import UserFactory
from inference import usage
from inference.models import Provider, UsageRecord, UsageStatus
from orgs.tests.factories import ProjectFactory


@pytest.fixture(autouse=True)
def fresh_queue():
    usage.reset_for_tests()
    yield
    usage.reset_for_tests()


def entry(index: int = 0, **fields) -> usage.UsageEntry:
    values = {
        "request_id": f"req_{index}",
        "endpoint": "chat.completions",
        "model": "jan-v1-4b",
        "status": UsageStatus.OK,
        "prompt_tokens": 7,
        "completion_tokens": 11,
        "duration_ms": 12.5,
    }
    return usage.UsageEntry(**{**values, **fields})


def dropped_total() -> float:
    return REGISTRY.get_sample_value("janserver_usage_dropped_total") or 0.0


def inserts(queries: CaptureQueriesContext) -> int:
    """INSERTs of usage rows run (Django logs an executemany as "N times: INSERT …");
    not those of the rollups the same transaction updates (usage.services)."""
    return sum(
        q["sql"]
        .split(" times: ", 1)[-1]
        .lstrip()
        .upper()
        .startswith('INSERT INTO "INFERENCE_USAGERECORD"')
        for q in queries
    )


async def wait_until_written(count: int) -> None:
    for _ in range(500):  # 5 s
        if await UsageRecord.objects.acount() >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} usage records were not written in time")


@pytest.mark.django_db
def test_record_queues_without_a_query_and_flush_inserts_in_one_query(
    django_assert_num_queries, django_assert_max_num_queries
):
    """record() does no database work; flush() writes 50 entries with one INSERT."""
    with django_assert_num_queries(0):
        for index in range(50):
            usage.record(entry(index))
    assert usage.pending_count() == 50
    assert UsageRecord.objects.count() == 0

    # At most the INSERT, its savepoint (this test runs inside a transaction), the
    # prices' SELECT, the rollups' advisory lock (PostgreSQL) and upsert (the entries
    # have no organization, so no monthly spend).
    with django_assert_max_num_queries(6) as flushing:
        assert usage.flush() == 50
    assert inserts(flushing) == 1
    assert usage.pending_count() == 0
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == sorted(
        f"req_{index}" for index in range(50)
    )


@pytest.mark.django_db
def test_every_field_reaches_the_row(project, user):
    """The entry's ids, counts, timings and flags are stored as given."""
    provider = Provider.objects.create(name="p", base_url="http://127.0.0.1:9/v1")
    usage.record(
        entry(
            organization_id=project.organization_id,
            project_id=project.pk,
            user_id=user.pk,
            provider_id=provider.pk,
            stream=True,
            status=UsageStatus.DISCONNECTED,
            http_status=200,
            time_to_first_token_ms=42.0,
            client_disconnected=True,
        )
    )
    usage.flush()
    row = UsageRecord.objects.get()
    assert (row.organization_id, row.project_id, row.user_id, row.provider_id) == (
        project.organization_id,
        project.pk,
        user.pk,
        provider.pk,
    )
    assert (row.stream, row.status, row.client_disconnected) == (
        True,
        "disconnected",
        True,
    )
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (7, 11, 18)
    assert (row.time_to_first_token_ms, row.duration_ms) == (42.0, 12.5)


@pytest.mark.django_db
def test_flush_writes_batches_of_usage_flush_batch(settings):
    """25 entries with a batch size of 10 take three INSERTs."""
    settings.USAGE_FLUSH_BATCH = 10
    for index in range(25):
        usage.record(entry(index))
    with CaptureQueriesContext(connection) as flushing:
        assert usage.flush() == 25
    assert inserts(flushing) == 3
    assert UsageRecord.objects.count() == 25


def test_queue_is_bounded_and_drops_are_counted(settings):
    """Beyond USAGE_MAX_PENDING an entry is dropped and counted, never queued."""
    settings.USAGE_MAX_PENDING = 3
    before = dropped_total()
    for index in range(5):
        usage.record(entry(index))
    assert usage.pending_count() == 3
    assert [e.request_id for e in usage._pending] == ["req_0", "req_1", "req_2"]
    assert dropped_total() - before == 2


@pytest.mark.django_db
def test_database_failure_keeps_the_entries_for_the_next_try(monkeypatch, caplog):
    """A failed write is logged; the entries stay queued, in order, and a retry writes them."""
    real_insert = usage._insert
    calls = []

    def flaky_insert(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise OperationalError("database is locked")
        real_insert(batch)

    monkeypatch.setattr(usage, "_insert", flaky_insert)
    for index in range(4):
        usage.record(entry(index))

    with caplog.at_level(logging.ERROR, logger="janserver.usage"):
        assert usage.flush() == 0
    assert "Could not write usage records" in caplog.text
    assert [e.request_id for e in usage._pending] == [f"req_{i}" for i in range(4)]
    assert UsageRecord.objects.count() == 0

    assert usage.flush() == 4
    assert UsageRecord.objects.count() == 4
    assert calls == [4, 4]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reference_deleted_meanwhile_is_nulled_and_the_row_kept():
    """A provider deleted while its stream ran: the row is written without it."""
    project = ProjectFactory()
    user = UserFactory()
    provider = Provider.objects.create(name="gone", base_url="http://127.0.0.1:9/v1")
    usage.record(
        entry(
            1,
            organization_id=project.organization_id,
            project_id=project.pk,
            user_id=user.pk,
            provider_id=provider.pk,
        )
    )
    usage.record(entry(2, organization_id=project.organization_id))
    provider.delete()

    assert usage.flush() == 2
    rows = {r.request_id: r for r in UsageRecord.objects.all()}
    assert rows["req_1"].provider_id is None
    assert (rows["req_1"].project_id, rows["req_1"].user_id) == (project.pk, user.pk)
    assert rows["req_2"].organization_id == project.organization_id


@pytest.mark.django_db
def test_a_row_the_database_rejects_is_dropped_alone(caplog):
    """One bad row (negative token count) does not keep the others from the ledger."""
    before = dropped_total()
    usage.record(entry(1))
    usage.record(entry(2, prompt_tokens=-1))
    usage.record(entry(3))
    with caplog.at_level(logging.ERROR, logger="janserver.usage"):
        assert usage.flush() == 3
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == [
        "req_1",
        "req_3",
    ]
    assert dropped_total() - before == 1
    assert usage.pending_count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_flusher_writes_every_usage_flush_seconds(settings):
    """Entries recorded in the event loop are written by the flusher, not the caller."""
    settings.USAGE_FLUSH_SECONDS = 0.05
    for index in range(3):
        usage.record(entry(index))
    assert usage._flusher is not None
    await wait_until_written(3)
    assert usage.pending_count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_flusher_wakes_as_soon_as_a_batch_is_full(settings):
    """With a long interval, USAGE_FLUSH_BATCH pending entries are written at once."""
    settings.USAGE_FLUSH_SECONDS = 60
    settings.USAGE_FLUSH_BATCH = 5
    usage.ensure_flusher()
    await asyncio.sleep(0.05)  # the flusher waits; one in another loop has stopped
    for index in range(4):
        usage.record(entry(index))
    await asyncio.sleep(0.1)
    assert await UsageRecord.objects.acount() == 0
    usage.record(entry(4))
    await wait_until_written(5)


REQUEST_SCOPED = contextvars.ContextVar("request_scoped")


async def test_the_flusher_does_not_inherit_the_context_that_started_it(
    settings, monkeypatch
):
    """A request's context variables (asgiref's thread-sensitive context, for one) stay
    with the request: the flusher's writes must not follow them."""
    settings.USAGE_FLUSH_SECONDS = 0.01
    seen = []

    async def run_write(function, *args):
        seen.append(REQUEST_SCOPED.get("unset"))
        return 0, False

    monkeypatch.setattr(usage.db, "run_write", run_write)
    REQUEST_SCOPED.set("the request's")
    usage.record(entry())
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen[:1] == ["unset"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_sync_code_in_a_thread_wakes_the_loops_flusher(settings):
    """record() from a worker thread (a sync view) is drained by the loop's flusher."""
    settings.USAGE_FLUSH_SECONDS = 60
    settings.USAGE_FLUSH_BATCH = 2
    usage.ensure_flusher()
    await asyncio.sleep(0)
    await asyncio.to_thread(lambda: [usage.record(entry(i)) for i in range(2)])
    await wait_until_written(2)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_astop_then_aflush_writes_everything_left():
    """The shutdown sequence: stop the flusher, then write all that is pending."""
    for index in range(120):
        usage.record(entry(index))
    await usage.astop()
    assert usage._flusher is None
    assert await usage.aflush() == 120
    assert await UsageRecord.objects.acount() == 120


def test_log_pending_keeps_unwritable_records_in_the_log(caplog):
    """The last resort: each record that could not be written becomes a log line."""
    usage.record(entry(1, model="m1"))
    usage.record(entry(2, model="m2"))
    with caplog.at_level(logging.ERROR, logger="janserver.usage"):
        assert usage.log_pending() == 2
    logged = [r.usage for r in caplog.records if hasattr(r, "usage")]
    assert [(r["request_id"], r["model"]) for r in logged] == [
        ("req_1", "m1"),
        ("req_2", "m2"),
    ]
    assert usage.pending_count() == 0
