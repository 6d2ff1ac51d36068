"""Personal data is redacted from every log record when it is created, before any handler sees it.

Two hooks, one function (``redact_record``):
- a log-record factory (installed when Django starts, ``GovernanceConfig.ready``): it sees every record of every
  logger that passes its level — Django's own handlers, Celery's, gunicorn's, libraries that attach handlers
  later, and ``warnings`` (captured into logging);
- a handler filter in settings.LOGGING (and on Celery's and gunicorn's handlers), for records created before
  the factory was installed or by code that builds ``LogRecord`` itself.
It fails closed: if redaction fails, the message is withheld rather than written raw.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from governance.pii import engine, redaction

WITHHELD = "[log message withheld: personal-data redaction failed]"
_state = threading.local()


def redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_pii_redacted", False) or getattr(_state, "busy", False):
        return
    # Records logged while this thread builds the analyzer (presidio's, spaCy's) come from inside the build
    # and hold no user text; redacting them would wait for the build they are part of.
    if engine.building():
        return
    _state.busy = True
    try:
        record.msg, record.args = redaction.redact_text(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redaction.redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redaction.redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redaction.redact_text(record.stack_info)
    except Exception:  # noqa: BLE001 — any failure must withhold the line, never let it through raw
        record.msg, record.args, record.exc_info, record.exc_text = WITHHELD, (), None, None
    finally:
        _state.busy = False
    record._pii_redacted = True  # several handlers share the record: redact once


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install(logger: logging.Logger) -> None:
    """Add the filter to every handler of ``logger`` (Celery and gunicorn set up their own handlers)."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_pii", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    factory.redacts_pii = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    logging.captureWarnings(True)  # warnings.warn(...) text becomes a record too
