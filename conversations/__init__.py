"""conversations: conversations, their items, workspaces and responses."""
