"""The live server's logs: human lines or one JSON object per line, on stderr.

``flagship serve`` logs through the standard library's ``logging`` under the ``flagship``
logger. ``text`` prints ``time logger level message``; ``json`` prints one object per
record with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message`` and every field
the call passed in ``extra`` (``event``, ``trial``, ``url``, ``store``, ``entries``, …), so a
log shipper can index a trial's start and stop without parsing sentences. Secrets (tokens,
keys) are never logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Literal

__all__ = ["JsonLogFormatter", "LogFormat", "QueryRedaction", "configure_logging"]

LogFormat = Literal["text", "json"]

# Attributes every LogRecord has: what is not among them came in through ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the ``extra`` fields, any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class QueryRedaction(logging.Filter):
    """Drops the query string from uvicorn's access lines: a citizen's invitation link carries
    their voter token in it (``/pages/votes/invitation?token=...``), and no token is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            path = str(args[2])
            if "?" in path:
                record.args = (args[0], args[1], f"{path.split('?', 1)[0]}?[redacted]", args[3], args[4])
        return True


def configure_logging(log_format: LogFormat) -> None:
    """Send warnings of every library, and Flagship's own info, to stderr in ``log_format``."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(QueryRedaction())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("flagship").setLevel(logging.INFO)
