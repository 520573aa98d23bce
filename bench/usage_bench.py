"""The usage API over 10 million usage rows on PostgreSQL: a 30-day daily report.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/janserver_usage \\
        .venv/bin/python -m bench.usage_bench [--rows 10000000] [--requests 30]

Migrates the database of DATABASE_URL (PostgreSQL only: use a database of its own,
its usage tables are emptied), creates 4 organizations of 10 projects with 2 keys each, seeds `--rows` usage rows
spread over the last 30 days (INSERT … SELECT FROM generate_series, in chunks), then
builds their rollups as the backfill does (`usage_rollups_rebuild`, timed). A gateway
(one uvicorn worker) then answers GET /v1/organization/usage/completions for one
organization's 30 days by day (`limit=30`), plain and grouped by project and model,
and GET /v1/organization/costs, `--requests` times each over HTTP with an admin key;
the median and p95 wall times are printed, beside the same daily sums computed from
the raw rows (what the rollups avoid), and the admin dashboard's figures
(`usage.selectors.dashboard.usage_dashboard`, in this process: its queries, without the
page's rendering) for the last 24 hours and 30 days. The database is left seeded (the
next run empties it first).
"""

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.gateway import gateway, manage

ORGANIZATIONS = 4
PROJECTS = 10
KEYS_PER_PROJECT = 2
MODELS = ("jan-v1-4b", "jan-v1-4b-reasoning", "qwen3-8b")
CHUNK = 1_000_000
DAYS = 30


def _django(env: dict[str, str]) -> None:
    """Set up Django in this process on the gateway's settings and database."""
    os.environ.update(env)
    import django

    django.setup()


def _setup_tenants() -> list[dict[str, str]]:
    """Create the organizations, projects and keys (through the services)."""
    from accounts.services import user_get_or_register
    from orgs.models import Organization
    from orgs.services import api_key_create, organization_create, project_create

    Organization.objects.filter(name__startswith="Bench ").delete()  # an earlier run's
    tenants = []
    for number in range(ORGANIZATIONS):
        owner, _ = user_get_or_register(email=f"owner{number}@bench.example")
        organization = organization_create(name=f"Bench {number}", owner=owner)
        for project_number in range(PROJECTS):
            project = project_create(
                organization=organization, name=f"P{project_number}", owner=owner
            )
            for _ in range(KEYS_PER_PROJECT):
                api_key_create(
                    kind="project",
                    organization=organization,
                    project=project,
                    owner=owner,
                )
        _, secret = api_key_create(kind="admin", organization=organization, owner=owner)
        tenants.append({"org": organization.public_id, "admin": secret})
    return tenants


def _seed(url: str, rows: int, start: datetime) -> float:
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE inference_usagerecord, usage_usagerollup, usage_monthlyspend"
        )
        keys = conn.execute(
            "SELECT k.id, k.organization_id, k.project_id, k.owner_id "
            "FROM orgs_apikey k JOIN orgs_organization o ON o.id = k.organization_id "
            "WHERE k.kind = 'project' AND o.name LIKE 'Bench %%' ORDER BY k.id"
        ).fetchall()
        ids = [list(column) for column in zip(*keys, strict=True)]
        span = DAYS * 86400
        for offset in range(0, rows, CHUNK):
            count = min(CHUNK, rows - offset)
            conn.execute(
                """
                INSERT INTO inference_usagerecord (
                    request_id, organization_id, project_id, api_key_id, user_id,
                    provider_id, endpoint, model, stream, status, http_status,
                    prompt_tokens, completion_tokens, time_to_first_token_ms,
                    duration_ms, client_disconnected, created_at)
                SELECT 'req_' || g, (%(orgs)s::bigint[])[1 + g %% %(n)s],
                    (%(projects)s::bigint[])[1 + g %% %(n)s],
                    (%(keys)s::bigint[])[1 + g %% %(n)s],
                    (%(users)s::bigint[])[1 + g %% %(n)s], NULL,
                    'chat.completions', (%(models)s::text[])[1 + (g / 7) %% 3],
                    g %% 2 = 0, CASE WHEN g %% 50 = 0 THEN 'upstream_error' ELSE 'ok' END,
                    CASE WHEN g %% 50 = 0 THEN 502 ELSE 200 END,
                    100 + g %% 900, 20 + g %% 300, 50 + g %% 700, 900 + g %% 2000,
                    g %% 97 = 0,
                    %(start)s::timestamptz + make_interval(secs => (g::float8 * %(span)s / %(rows)s))
                FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
                """,
                {
                    "orgs": ids[1], "projects": ids[2], "keys": ids[0], "users": ids[3],
                    "n": len(keys), "models": list(MODELS), "start": start,
                    "span": span, "rows": rows, "first": offset, "last": offset + count - 1,
                },
            )  # fmt: skip
            print(f"  seeded {offset + count:,} rows", flush=True)
        conn.execute("ANALYZE inference_usagerecord")
    return time.perf_counter() - began


def _rebuild(start: datetime) -> float:
    began = time.perf_counter()
    from usage.services import usage_rollups_rebuild

    written = usage_rollups_rebuild(since=start, until=start + timedelta(days=DAYS + 1))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_usagerollup")
    print(f"  {written:,} minute rollups", flush=True)
    return time.perf_counter() - began


def _raw_scan(url: str, organization: str, start: datetime) -> float:
    """The same 30 daily sums read from the raw rows, for comparison."""
    import psycopg

    with psycopg.connect(url) as conn:
        began = time.perf_counter()
        conn.execute(
            "SELECT date_trunc('day', r.created_at), count(*), sum(prompt_tokens), "
            "sum(completion_tokens) FROM inference_usagerecord r "
            "JOIN orgs_organization o ON o.id = r.organization_id "
            "WHERE o.public_id = %s AND r.created_at >= %s AND r.created_at < %s "
            "GROUP BY 1",
            [organization, start, start + timedelta(days=DAYS)],
        ).fetchall()
        return time.perf_counter() - began


def _timed(base: str, admin: str, path: str, params: dict, count: int) -> list[float]:
    times = []
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        client.get(path, params=params).raise_for_status()  # warm: credential cache
        for _ in range(count):
            began = time.perf_counter()
            response = client.get(path, params=params)
            times.append(time.perf_counter() - began)
            response.raise_for_status()
        body = response.json()
    buckets = body["data"]
    results = sum(len(bucket["results"]) for bucket in buckets)
    print(
        f"  {path} {params.get('group_by', '')}: {len(buckets)} buckets, {results} results"
    )
    return times


def _dashboard(organization_id: str, seconds: int, count: int) -> list[float]:
    """Time the admin dashboard's figures of the organization over the last
    `seconds`, in this process (the same database)."""
    from django.utils import timezone

    from orgs.models import Organization
    from usage.selectors.dashboard import span_last, usage_dashboard

    organization = Organization.objects.get(public_id=organization_id)
    span = span_last(seconds=seconds, now=timezone.now())
    times = []
    for _ in range(count + 1):  # the first warms the connection and caches
        began = time.perf_counter()
        dashboard = usage_dashboard(organization=organization, span=span)
        times.append(time.perf_counter() - began)
    print(f"  dashboard {seconds // 3600} h: {dashboard.total.requests:,} requests")
    return times[1:]


def _summary(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(
        f"{name:<44} median {statistics.median(times) * 1000:7.1f} ms   "
        f"p95 {p95 * 1000:7.1f} ms   ({len(times)} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (it is emptied).")
    start = (datetime.now(UTC) - timedelta(days=DAYS)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    query = {
        "start_time": int(start.timestamp()),
        "end_time": int((start + timedelta(days=DAYS)).timestamp()),
        "bucket_width": "1d",
        "limit": DAYS,
    }
    report = "/v1/organization/usage/completions"
    with gateway(core=1, database_url=url) as (base, env, _pid):
        manage(env, "setprice", MODELS[0], "--input", "0.15", "--output", "0.6")
        _django(env)  # the gateway's secrets: its keys are the ones created here
        tenants = _setup_tenants()
        print(f"Seeding {args.rows:,} usage rows over {DAYS} days…", flush=True)
        print(f"seeded in {_seed(url, args.rows, start):.1f} s")
        print("Building the rollups (usage_rollups_rebuild)…", flush=True)
        print(f"rollups built in {_rebuild(start):.1f} s")
        organization, admin = tenants[0]["org"], tenants[0]["admin"]
        plain = _timed(base, admin, report, query, args.requests)
        grouped_query = {**query, "group_by": ["project_id", "model"]}
        grouped = _timed(base, admin, report, grouped_query, args.requests)
        costs = _timed(base, admin, "/v1/organization/costs", query, args.requests)
        day = _dashboard(organization, 86400, args.requests)
        month = _dashboard(organization, DAYS * 86400, args.requests)
    print()
    _summary("usage/completions, 30 days by day", plain)
    _summary("usage/completions, by project and model", grouped)
    _summary("costs, 30 days by day", costs)
    _summary("admin dashboard's figures, last 24 hours", day)
    _summary("admin dashboard's figures, last 30 days", month)
    scans = [_raw_scan(url, str(organization), start) for _ in range(3)]
    print(
        f"{'the same sums from the raw rows (SQL only)':<44} median {statistics.median(scans) * 1000:7.1f} ms"
    )


if __name__ == "__main__":
    main()
