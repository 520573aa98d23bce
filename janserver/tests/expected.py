"""Answers the tests of several apps expect, written out here once (not taken from
janserver.errors, so that a changed message or code fails them)."""

# A request without valid credentials (401), as OpenAI answers it.
UNAUTHENTICATED = {
    "error": {
        "message": "Incorrect or missing API key or access token.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
