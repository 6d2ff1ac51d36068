"""A logging filter that redacts personal data from every record before any handler writes it.

Installed on the console handler in settings.LOGGING, and on Celery's handlers (config/celery.py). It fails
closed: if redaction itself fails, the message is withheld rather than written raw.
"""

from __future__ import annotations

import logging
import threading

WITHHELD = "[log message withheld: personal-data redaction failed]"


class RedactingFilter(logging.Filter):
    _state = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        # Redaction may log (presidio's own loggers, the first engine build): those lines pass as they are.
        if getattr(self._state, "busy", False) or getattr(record, "_pii_redacted", False):
            return True
        self._state.busy = True
        try:
            from governance.pii.redaction import redact_text

            message = record.getMessage()
            record.msg, record.args = redact_text(message), ()
            if record.exc_info and not record.exc_text:
                record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = redact_text(record.exc_text)
            if record.stack_info:
                record.stack_info = redact_text(record.stack_info)
        except Exception:  # noqa: BLE001 — any failure must withhold the line, never let it through raw
            record.msg, record.args, record.exc_info, record.exc_text = WITHHELD, (), None, None
        finally:
            self._state.busy = False
        record._pii_redacted = True  # several handlers share the record: redact once
        return True


def install(logger: logging.Logger) -> None:
    """Add the filter to every handler of ``logger`` (Celery sets up its own handlers)."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
