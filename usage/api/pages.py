"""The buckets of one page of a report, and its page tokens.

A page token names the next page's first bucket, signed together with a digest of
the query it continues: a token of another query (or another organization's) is
refused with a 400 naming `page`, and a forged one likewise.
"""

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from django.core import signing

from janserver.errors import InvalidRequest
from usage.models import WIDTHS
from usage.selectors import Window

SALT = "usage.report.page"
# What identifies a query, besides the report and the organization.
QUERY_FIELDS = (
    "start_time",
    "end_time",
    "bucket_width",
    "group_by",
    "project_ids",
    "user_ids",
    "api_key_ids",
    "models",
    "batch",
    "line_items",
)


@dataclass(frozen=True)
class Page:
    window: Window
    next_page: str | None


def page_for(
    *, report: str, organization_public_id: str, query: dict[str, Any]
) -> Page:
    """Return the window of buckets this call answers and the next page's token.

    Buckets are aligned on the width (UTC): the start time is rounded down to a
    bucket's start and the end (default: now) up to a bucket's end.
    """
    width = WIDTHS[query["bucket_width"]]
    first = query["start_time"] // width * width
    end = query.get("end_time") or math.ceil(time.time())
    last = math.ceil(end / width) * width
    digest = _digest(report, organization_public_id, query)
    start = _token_start(query["page"], digest) if query.get("page") else first
    if not first <= start <= max(first, last) or (start - first) % width:
        raise InvalidRequest("The page token does not fit this query.", param="page")
    count = max(0, min(query["limit"], (last - start) // width))
    following = start + count * width
    next_page = (
        signing.dumps({"q": digest, "s": following}, salt=SALT, compress=True)
        if following < last
        else None
    )
    return Page(Window(width, start, count), next_page)


def _digest(report: str, organization_public_id: str, query: dict[str, Any]) -> str:
    identity = [report, organization_public_id] + [
        sorted(value) if isinstance(value, list) else value
        for value in (query.get(name) for name in QUERY_FIELDS)
    ]
    encoded = json.dumps(identity, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


def _token_start(token: str, digest: str) -> int:
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise InvalidRequest("The page token is not valid.", param="page") from None
    if not isinstance(payload, dict) or payload.get("q") != digest:
        raise InvalidRequest(
            "The page token belongs to another query; send the same parameters "
            "as the call that returned it.",
            param="page",
        )
    start = payload.get("s")
    if not isinstance(start, int) or isinstance(start, bool):
        raise InvalidRequest("The page token is not valid.", param="page")
    return start
