"""The soak's own parts: the leak scan finds planted secrets, answers are accounted
for by kind and expectation, the RSS drift is judged as documented; and a short soak
of a real production worker passes, its scan finding exactly the leaks planted."""

import json
import secrets
from pathlib import Path

import pytest

from bench.soak import Options, Rss, run_soak
from bench.soak_scan import Scanner, Secrets, dump_tables, dumped_rows, log_lines
from bench.soak_traffic import Soak, Tally
from conversations.models import Conversation
from conversations.tests.factories import ConversationFactory


def project_key() -> str:
    return "sk-project_" + secrets.token_hex(20)


def test_scanner_finds_each_secret_wherever_it_stands():
    """A secret is found whole inside any text: alone, in JSON, glued to a longer
    token, in a query string; an API key's random part alone is found too."""
    key, jwt_secret = project_key(), secrets.token_urlsafe(64)
    found = Secrets()
    found.add("project key", key)
    found.add("JWT_SECRET", jwt_secret)
    texts = [
        ("a", f'{{"path": "/v1/x", "auth": "Bearer {key}"}}'),
        ("b", f"prefix{jwt_secret}suffix"),
        ("c", f"/v1/models?key={key.removeprefix('sk-project_')}&x=1"),
        ("d", "nothing here " + key[:-1] + " " + jwt_secret[1:]),  # near misses
    ]
    findings = Scanner(found).scan(texts)
    assert sorted((f.label, f.where) for f in findings) == [
        ("JWT_SECRET", "b"),
        ("project key", "a"),
        ("project key (random part)", "a"),
        ("project key (random part)", "c"),
    ]
    assert all(key not in f.excerpt and jwt_secret not in f.excerpt for f in findings)


def test_scanner_finds_secrets_outside_the_url_safe_alphabet():
    """A secret with other characters is still searched, as a plain substring."""
    odd = "p@ss/word+with spaces=" + secrets.token_hex(8)
    found = Secrets()
    found.add("provider API key", odd)
    findings = Scanner(found).scan(
        [("line 1", f"x {odd} y {odd}"), ("line 2", odd[1:])]
    )
    assert [(f.label, f.where) for f in findings] == [
        ("provider API key", "line 1")
    ] * 2


def test_secrets_refuse_a_value_too_short_to_search():
    """A secret under MIN_LENGTH characters is refused (it would match by chance)."""
    with pytest.raises(ValueError, match="shorter"):
        Secrets().add("short", "sk-project_abc")


def test_log_lines_are_scanned_line_by_line(tmp_path):
    """A log file's secret is reported with its line number."""
    key = project_key()
    found = Secrets()
    found.add("admin key", key)
    log = tmp_path / "gateway.log"
    log.write_text(f'{{"message": "ok"}}\n{{"message": "got {key}"}}\n')
    findings = Scanner(found).scan(log_lines(log))
    assert {f.where for f in findings} == {"log line 2"}


@pytest.mark.django_db
def test_dumped_rows_of_every_table_are_scanned(tmp_path):
    """dump_tables() writes every table's rows; a secret stored in one is found,
    named by its table."""
    key = project_key()
    ConversationFactory(title=key)
    found = Secrets()
    found.add("project key", key)
    dump = tmp_path / "rows.jsonl"
    tables, rows = dump_tables(str(dump))
    assert rows >= Conversation.objects.count() >= 1
    assert tables > 10
    findings = Scanner(found).scan(dumped_rows(dump))
    assert {f.where.split(" (")[0] for f in findings} == {
        "row conversations_conversation"
    }
    assert {f.label for f in findings} == {"project key", "project key (random part)"}


def test_tally_counts_answers_and_fails_the_unexpected():
    """Answers are counted by kind and status; an unexpected status, a 5xx or a
    transport error is a failure with a sample, an expected 4xx is not."""
    tally = Tally()
    assert tally.record("chat", 200, (200,))
    assert tally.record("bad credentials", 429, (401, 429))
    assert not tally.record("chat", 500, (200,), "POST /v1/chat/completions: oops")
    assert not tally.record("admin", 401, (200,), "GET /v1/organization/users")
    assert not tally.record("chat stream", "ClientOSError", (200,), "POST")
    assert tally.total() == 5
    assert tally.failures == 3
    assert dict(tally.unexpected) == {
        ("chat", "500"): 1,
        ("admin", "401"): 1,
        ("chat stream", "ClientOSError"): 1,
    }
    assert tally.samples[0] == (
        "chat 500 (expected [200]): POST /v1/chat/completions: oops"
    )


def test_rss_drift_compares_the_medians_of_the_first_and_last_windows():
    """After the warm-up, the median of the first window against the median of the
    last one; both shortened to a quarter of a short run."""
    rss = Rss(samples=[(t, 100.0 + (50 if t < 60 else 0) + t / 60) for t in range(600)])
    rss.judge(600, warm_up=60, window=60)
    # Medians of t = 60..119 and t = 540..599: t = 89.5 and 569.5.
    assert rss.baseline == pytest.approx(100 + 89.5 / 60)
    assert rss.final == pytest.approx(100 + 569.5 / 60)
    assert rss.drift == pytest.approx(8 / (100 + 89.5 / 60))
    short = Rss(samples=[(t, 100.0) for t in range(20)])
    short.judge(20, warm_up=60, window=60)
    assert (short.warm_up, short.window, short.drift) == (5, 5, 0.0)


@pytest.mark.server
def test_short_soak_passes_and_finds_exactly_the_planted_leaks(
    migrated_sqlite: Path, tmp_path: Path
):
    """A short soak of the production server: every kind of traffic answered as
    expected, an access line per request, and the scan finds the two leaks planted
    after the traffic (a key in a URL path, so in the log; a provider key stored as
    a conversation title) and nothing else."""

    async def plant(soak: Soak) -> None:
        admin_key = next(
            k for k, v in soak.secrets.labels.items() if v == "owner admin key"
        )
        provider_key = next(
            k for k, v in soak.secrets.labels.items() if v == "provider API key"
        )
        await soak.call("plant", "GET", f"/v1/conversations/{admin_key}",
                        key=soak.project_key, expect=(404,))  # fmt: skip
        await soak.call("plant", "POST", "/v1/conversations", key=soak.project_key,
                        body={"title": provider_key})  # fmt: skip

    options = Options(
        duration=4, database_url=f"sqlite:///{migrated_sqlite}", redis_url=None,
        after_traffic=plant,
    )  # fmt: skip
    report = run_soak(options, tmp_path)

    tally = report.tally
    assert tally.samples == []
    assert tally.failures == 0
    kinds = {kind for kind, _status in tally.counts}
    assert kinds == {"admin", "bad credentials", "bad requests", "chat", "chat stream",
                     "conversation", "login", "plant", "responses"}  # fmt: skip
    assert tally.counts["bad requests", "400"] > 0
    assert tally.counts["bad credentials", "401"] > 0
    assert report.log_complete
    assert report.scanned["rows"] > 0
    leaks = {
        (f.label, f.where.split(" ")[0] + " " + f.where.split(" ")[1])
        for f in report.findings
    }
    assert leaks == {
        ("owner admin key", "log line"),
        ("owner admin key (random part)", "log line"),
        ("provider API key", "row conversations_conversation"),
    }
    assert not report.ok
    json.dumps([f.__dict__ for f in report.findings])  # a report is plain data
