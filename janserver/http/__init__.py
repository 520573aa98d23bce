"""janserver's HTTP layer: the ASGI edge, the handler, middleware and responses."""
