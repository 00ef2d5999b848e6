"""Configure logging once at start-up: console (rich or JSON), rotating JSON-lines files, audit file, live hub."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

from cloudfaster.logs.context import request_id_var, userid_var
from cloudfaster.logs.stream import LogHub
from cloudfaster.settings import LoggingSettings

AUDIT_LOGGER = "cloudfaster.audit"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


class ContextFilter(logging.Filter):
    """Stamp every record with the current request id and userid."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context fields; never drops a record."""
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "userid"):
            record.userid = userid_var.get()
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose files (the current one and each new one after a rollover) are 0600."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        return io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "a")), encoding=self.encoding, errors=self.errors)


def _rotating(path: Path, settings: LoggingSettings) -> logging.Handler:
    handler = PrivateRotatingFileHandler(
        path, maxBytes=settings.file_max_bytes, backupCount=settings.file_backups, encoding="utf-8"
    )
    handler.setFormatter(JsonFormatter(JSON_FIELDS, timestamp=True))
    return handler


def configure_logging(settings: LoggingSettings, log_dir: Path) -> LogHub:
    """Install the handlers on the ``cloudfaster`` logger tree and return the live-stream hub."""
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    context = ContextFilter()
    if settings.console_format == "rich":
        from rich.logging import RichHandler  # only for this format: plain and JSON never load rich

        console: logging.Handler = RichHandler(rich_tracebacks=True, show_path=False, markup=False)
    else:
        console = logging.StreamHandler()
        if settings.console_format == "json":
            console.setFormatter(JsonFormatter(JSON_FIELDS, timestamp=True))
        else:
            console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    app_file = _rotating(log_dir / "cloudfaster.jsonl", settings)
    hub = LogHub(settings.stream_queue_size)

    root = logging.getLogger("cloudfaster")
    root.handlers.clear()
    root.setLevel(settings.level)
    root.propagate = False
    for handler in (console, app_file, hub):
        handler.addFilter(context)
        root.addHandler(handler)

    audit = logging.getLogger(AUDIT_LOGGER)
    audit.handlers.clear()
    audit_file = _rotating(log_dir / "audit.jsonl", settings)
    audit_file.addFilter(context)
    audit.addHandler(audit_file)
    audit.setLevel(logging.INFO)
    return hub
