"""OpenAI's stored chat completions end to end: `store: true` on /v1/chat/completions,
read back, changed and deleted through the openai SDK against a real gateway."""

import httpx
import openai
import pytest

from accounts.tokens import tokens_issue
from conversations.models import StoredCompletion
from conversations.tests.test_conv_completions import events, streamed_text
from inference import usage
from inference.models import UsageRecord
from inference.testing.fixtures import MODEL, make_provider
from limits.services import rate_limit_set
from orgs.models import ApiKey
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PATH = "/v1/chat/completions"
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]},
]


def chat(**fields) -> dict:
    return {"model": MODEL, "messages": MESSAGES, **fields}


def other_client(live) -> openai.OpenAI:
    """A project key of another organization's project, on the same gateway."""
    member = ProjectMemberFactory(project=ProjectFactory())
    _, secret = api_key_create(
        kind="project",
        organization=member.project.organization,
        project=member.project,
        owner=member.user,
    )
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=secret, max_retries=0)


def test_a_stored_completion_is_read_changed_and_deleted_through_the_sdk(live):
    client = live.openai()
    created = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, store=True, metadata={"topic": "colours"}
    )
    stored = client.chat.completions.retrieve(created.id)
    assert stored.id == created.id
    assert stored.choices[0].message.content == created.choices[0].message.content
    assert stored.usage == created.usage
    assert stored.model == created.model
    assert stored.metadata == {"topic": "colours"}

    messages = list(client.chat.completions.messages.list(created.id))
    assert [(m.id, m.role, m.content) for m in messages] == [
        (f"{created.id}-0", "system", "Be brief."),
        (f"{created.id}-1", "user", "Name a colour."),
    ]
    assert messages[0].content_parts is None
    assert messages[1].content_parts[0].text == "Name a colour."

    updated = client.chat.completions.update(created.id, metadata={"topic": "paint"})
    assert updated.metadata == {"topic": "paint"}
    assert client.chat.completions.retrieve(created.id).metadata == {"topic": "paint"}
    listed = client.chat.completions.list()
    assert [c.id for c in listed.data] == [created.id]

    deleted = client.chat.completions.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        created.id,
        True,
        "chat.completion.deleted",
    )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(created.id)
    assert not StoredCompletion.objects.exists()


def test_a_stream_is_stored_once_it_ends(live):
    client = live.openai()
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            store=True,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    stored = client.chat.completions.retrieve(chunks[0].id)
    assert stored.choices[0].message.content == text
    assert stored.choices[0].finish_reason == "stop"
    assert stored.usage is not None
    assert stored.usage.completion_tokens == chunks[-1].usage.completion_tokens


def test_nothing_is_stored_without_store_or_with_store_false(live):
    client = live.openai()
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    client.chat.completions.create(model=MODEL, messages=MESSAGES, store=False)
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert live.fake.recorder.last.body.get("store") is None
    assert not StoredCompletion.objects.exists()
    assert client.chat.completions.list().data == []


def test_store_and_metadata_are_not_sent_upstream(live):
    live.post(PATH, chat(store=True, metadata={"a": "1"}, top_k=5))
    sent = live.fake.recorder.last.body
    assert not {"store", "metadata"} & set(sent)
    assert (sent["top_k"], sent["messages"]) == (5, MESSAGES)


def test_list_filters_by_model_and_metadata_and_pages(live):
    make_provider(live.fake.base_url, name="Other", models=("other-model",))
    client = live.openai()
    ids = [
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, store=True, metadata={"n": str(n)}
        ).id
        for n in range(3)
    ]
    other = client.chat.completions.create(
        model="other-model", messages=MESSAGES, store=True, metadata={"n": "0"}
    ).id
    first = client.chat.completions.list(limit=2)
    assert [c.id for c in first.data] == ids[:2]  # oldest first, as OpenAI
    assert first.has_more is True
    assert [c.id for c in client.chat.completions.list(limit=2)] == [*ids, other]
    newest = client.chat.completions.list(order="desc", limit=1)
    assert [c.id for c in newest.data] == [other]
    assert [c.id for c in client.chat.completions.list(model=MODEL)] == ids
    zero = client.chat.completions.list(metadata={"n": "0"})
    assert [c.id for c in zero] == [ids[0], other]
    both = client.chat.completions.list(metadata={"n": "0"}, model="other-model")
    assert [c.id for c in both] == [other]
    assert client.chat.completions.list(metadata={"n": "9"}).data == []


def test_another_callers_stored_completion_is_not_found(live):
    mine = live.openai().chat.completions.create(
        model=MODEL, messages=MESSAGES, store=True
    )
    other = other_client(live)
    assert other.chat.completions.list().data == []
    for call in (
        lambda: other.chat.completions.retrieve(mine.id),
        lambda: other.chat.completions.update(mine.id, metadata={"x": "y"}),
        lambda: other.chat.completions.delete(mine.id),
        lambda: list(other.chat.completions.messages.list(mine.id)),
    ):
        with pytest.raises(openai.NotFoundError) as raised:
            call()
        assert raised.value.body == {
            "message": f"No chat completion with id {mine.id!r}.",
            "type": "invalid_request_error",
            "param": "completion_id",
            "code": "not_found",
        }
    assert StoredCompletion.objects.get().metadata == {}


def test_a_user_sees_the_completions_of_their_own_keys(live, user):
    """A login user sees what they stored with their keys, a teammate's key not."""
    ProjectMemberFactory(project=live.project, user=user)
    _, secret = api_key_create(
        kind="project",
        organization=live.project.organization,
        project=live.project,
        owner=user,
    )
    mine = openai.OpenAI(base_url=f"{live.url}/v1", api_key=secret, max_retries=0)
    kept = mine.chat.completions.create(model=MODEL, messages=MESSAGES, store=True)
    live.openai().chat.completions.create(model=MODEL, messages=MESSAGES, store=True)
    token = tokens_issue(user=user).access
    signed_in = openai.OpenAI(base_url=f"{live.url}/v1", api_key=token, max_retries=0)
    assert [c.id for c in signed_in.chat.completions.list()] == [kept.id]
    # The project key sees every completion of its project.
    assert len(mine.chat.completions.list().data) == 2


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (chat(store="yes"), "store", "`store` must be a boolean."),
        (
            chat(store=True, metadata={f"k{n}": "v" for n in range(17)}),
            "metadata",
            "metadata may hold at most 16 pairs, not 17.",
        ),
        (
            chat(store=True, metadata={"k": 1}),
            "metadata.k",
            "Metadata values must be strings of at most 512 characters.",
        ),
        (chat(store=True, metadata=[]), "metadata", "metadata must be an object."),
    ],
)
def test_bad_store_fields_are_refused_before_the_model_is_called(
    live, body, param, message
):
    sent = live.fake.recorder.total_requests
    response = live.post(PATH, body)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": "invalid_value",
        }
    }
    assert live.fake.recorder.total_requests == sent
    assert not StoredCompletion.objects.exists()


def test_bad_reads_and_updates_are_refused(live):
    client = live.openai()
    created = client.chat.completions.create(model=MODEL, messages=MESSAGES, store=True)
    path = f"{live.url}{PATH}/{created.id}"

    def send(method: str, url: str, **kwargs) -> httpx.Response:
        return httpx.request(method, url, headers=live.headers, timeout=10, **kwargs)

    cases = [
        (send("POST", path, json={}), "metadata", "missing_required_parameter"),
        (
            send("POST", path, json={"metadata": {"a": "1"}, "x": 1}),
            "x",
            "invalid_value",
        ),
        (send("POST", path, json={"metadata": "a"}), "metadata", "invalid_value"),
        (send("POST", path, content=b"{"), None, "invalid_json"),
        (send("GET", f"{live.url}{PATH}?metadata=a"), "metadata", "invalid_value"),
        (send("GET", f"{live.url}{PATH}?limit=0"), "limit", "invalid_value"),
        (send("GET", f"{live.url}{PATH}?order=up"), "order", "invalid_value"),
        (
            send("GET", f"{live.url}{PATH}?after=chatcmpl-nope"),
            "after",
            "invalid_value",
        ),
        (
            send("GET", f"{path}/messages?after={created.id}-9"),
            "after",
            "invalid_value",
        ),
    ]
    for response, param, code in cases:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["type"], error["param"], error["code"]) == (
            "invalid_request_error",
            param,
            code,
        )
        assert error["message"]
    assert StoredCompletion.objects.get().metadata == {}
    put = send("PUT", path, json={"metadata": {}})
    assert put.status_code == 405


def test_messages_page_with_after_in_either_order(live):
    client = live.openai()
    messages = [{"role": "user", "content": f"m{n}"} for n in range(5)]
    created = client.chat.completions.create(model=MODEL, messages=messages, store=True)
    page = client.chat.completions.messages.list(created.id, limit=2)
    assert [m.content for m in page.data] == ["m0", "m1"]
    assert [m.content for m in page] == ["m0", "m1", "m2", "m3", "m4"]
    backwards = client.chat.completions.messages.list(created.id, order="desc")
    assert [m.content for m in backwards.data] == ["m4", "m3", "m2", "m1", "m0"]


def test_a_rate_limited_request_is_not_stored_and_is_accounted(live):
    key = ApiKey.objects.get(project=live.project)
    rate_limit_set(
        organization=key.organization,
        api_key=key,
        model="",
        limits={"max_requests_per_1_minute": 1},
    )
    client = live.openai()
    client.chat.completions.create(model=MODEL, messages=MESSAGES, store=True)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, store=True)
    assert StoredCompletion.objects.count() == 1
    usage.flush()
    statuses = UsageRecord.objects.filter(api_key=key).values_list(
        "endpoint", "http_status"
    )
    assert sorted(statuses) == [("chat.completions", 200), ("chat.completions", 429)]


@pytest.mark.parametrize("mode", ["drop_mid_stream", "error_mid_stream"])
def test_a_stream_that_fails_is_not_stored(live, mode):
    body = chat(store=True, stream=True, fake={"mode": mode})
    response = live.post(PATH, body)
    assert response.status_code == 200
    parsed = events(response)
    assert "[DONE]" not in parsed
    assert streamed_text(parsed) is not None
    assert not StoredCompletion.objects.exists()


def test_the_stored_object_shows_the_request_parameters(live):
    response = live.post(
        PATH, chat(store=True, temperature=0, seed=7, user="u-1", metadata={"a": "b"})
    )
    completion = response.json()
    stored = httpx.get(
        f"{live.url}{PATH}/{completion['id']}", headers=live.headers, timeout=10
    ).json()
    assert stored == {
        **completion,
        "temperature": 0,
        "seed": 7,
        "input_user": "u-1",
        "metadata": {"a": "b"},
    }
