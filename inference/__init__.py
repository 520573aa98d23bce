"""inference: talking to the upstream LLM servers."""
