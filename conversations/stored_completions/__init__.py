"""OpenAI's stored chat completions: kept with `store: true`, read and changed by id."""
