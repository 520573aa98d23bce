"""/v1/chat/completions with Jan's `conversation` field and OpenAI's `store: true`."""
