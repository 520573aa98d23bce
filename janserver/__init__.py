"""janserver: a self-hosted, multi-tenant, OpenAI-compatible LLM API server."""

__version__ = "0.1.0"
