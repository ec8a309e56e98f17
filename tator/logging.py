"""Logging set-up: one configuration, request and job ids attached to every record."""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import re
from pathlib import Path

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
job_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("job_id", default="-")

_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s job=%(job_id)s] %(message)s"
_HANDLER_NAME = "tator-file"


_SECRET_QUERY = re.compile(r"([?&](?:token|api_token|access_token)=)[^&#\s\"']*", re.IGNORECASE)
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn")


def redact(text: str) -> str:
    """`text` with the value of every `token=` query parameter replaced by `***`."""
    return _SECRET_QUERY.sub(r"\1***", text)


class RedactSecrets(logging.Filter):
    """Removes `?token=` values from a record's message and arguments (the access log prints full paths)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


class ContextFilter(RedactSecrets):
    """Adds the current request id and job id to each record (and redacts secrets like its base)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.job_id = job_id_var.get()
        return super().filter(record)


def redact_server_logs() -> None:
    """Attach the redaction filter to uvicorn's loggers (call after uvicorn configured them; idempotent)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def configure_logging(level: str, logs_dir: Path | None) -> None:
    """Configure the `tator` logger once per process; calling again only updates level and file."""
    redact_server_logs()
    logger = logging.getLogger("tator")
    logger.setLevel(level.upper())
    logger.propagate = False
    if not any(isinstance(h, logging.StreamHandler) and h.get_name() == "tator-stderr" for h in logger.handlers):
        stream = logging.StreamHandler()
        stream.set_name("tator-stderr")
        stream.addFilter(ContextFilter())
        stream.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(stream)
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
            handler.close()
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            logs_dir / "tator.log", maxBytes=20 * 1024 * 1024, backupCount=3, encoding="utf-8"
        )
        file_handler.set_name(_HANDLER_NAME)
        file_handler.addFilter(ContextFilter())
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(file_handler)
