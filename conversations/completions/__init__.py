"""Jan's conversation-aware chat completions: one turn relayed, then stored as items."""
