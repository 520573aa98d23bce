"""The built-in tools, with Jan's names and parameters: `google_search` and `scrape`.

Both run on Serper (tools/serper.py). A parameter the caller leaves out is not sent, so
Serper applies its own default (the schemas state them: gl "us", hl "en", num 10,
page 1, autocorrect true, includeMarkdown false).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from tools import serper
from tools.results import ToolResult, json_result

GOOGLE_SEARCH = "google_search"
SCRAPE = "scrape"

GOOGLE_SEARCH_DESCRIPTION = (
    "Search the web with Google (through Serper) and return the results as JSON: "
    "organic results (title, link, snippet, date, position), and when Google has them, "
    "the knowledge graph, the answer box, 'people also ask' questions and related "
    "searches. Use it for current events, facts to verify, and pages to read further "
    "with the scrape tool. Narrow results with gl (country), hl (language), location, "
    "and tbs (time range: qdr:h past hour, qdr:d past day, qdr:w past week, qdr:m past "
    "month, qdr:y past year); page through them with num and page."
)
SCRAPE_DESCRIPTION = (
    "Fetch a web page (through Serper) and return its text as JSON: `text`, the "
    "page's `metadata` (title, description, …) and, with includeMarkdown, a "
    "`markdown` rendering that keeps headings, links and lists. Use it to read a page "
    "that google_search found, or any public http(s) URL."
)

GOOGLE_SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "q": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2048,
            "description": "The search query, as typed into Google (operators such "
            "as site: and quotes work).",
        },
        "gl": {
            "type": "string",
            "pattern": "^[A-Za-z]{2}$",
            "default": "us",
            "description": "Country of the results: an ISO 3166-1 alpha-2 code "
            "('us', 'sg', 'de'). Default 'us'.",
        },
        "hl": {
            "type": "string",
            "pattern": "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
            "default": "en",
            "description": "Language of the results: an ISO 639-1 code, optionally "
            "with a region ('en', 'zh-tw'). Default 'en'.",
        },
        "location": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "Where the search is made from, e.g. 'SoHo, New York, "
            "United States' or 'California, United States'.",
        },
        "num": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
            "default": 10,
            "description": "How many results per page (1 to 100). Default 10.",
        },
        "tbs": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "Time range filter: 'qdr:h' (past hour), 'qdr:d' (past "
            "day), 'qdr:w' (past week), 'qdr:m' (past month), 'qdr:y' (past year), "
            "or any Google tbs value.",
        },
        "page": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
            "default": 1,
            "description": "Which page of results (from 1). Default 1.",
        },
        "autocorrect": {
            "type": "boolean",
            "default": True,
            "description": "Whether Google may correct the query's spelling. "
            "Default true.",
        },
    },
    "required": ["q"],
    "additionalProperties": False,
}
SCRAPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2048,
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$",
            "description": "The http(s) URL of the page to read.",
        },
        "includeMarkdown": {
            "type": "boolean",
            "default": False,
            "description": "Also return the page as Markdown. Default false.",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class Builtin:
    """A built-in tool: its MCP definition and the coroutine that runs it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[
        [dict[str, Any], float], Awaitable[ToolResult]
    ]  # (arguments, seconds)


async def google_search(arguments: dict[str, Any], seconds: float) -> ToolResult:
    """Run a Serper search with the (schema-checked) arguments."""
    data = await serper.post(
        settings.SERPER_SEARCH_URL, dict(arguments), seconds=seconds
    )
    return json_result(data)


async def scrape(arguments: dict[str, Any], seconds: float) -> ToolResult:
    """Scrape a page with Serper, with the (schema-checked) arguments."""
    data = await serper.post(
        settings.SERPER_SCRAPE_URL, dict(arguments), seconds=seconds
    )
    return json_result(data)


BUILTINS: dict[str, Builtin] = {
    GOOGLE_SEARCH: Builtin(
        GOOGLE_SEARCH, GOOGLE_SEARCH_DESCRIPTION, GOOGLE_SEARCH_SCHEMA, google_search
    ),
    SCRAPE: Builtin(SCRAPE, SCRAPE_DESCRIPTION, SCRAPE_SCHEMA, scrape),
}
