"""Request-scoped logging context: the request id travels with every log record."""

import logging
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Attach the current request id (or None) to each record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        # The request object's repr is harmless, but nothing from it is needed in logs.
        if hasattr(record, "request"):
            del record.request
        return True
