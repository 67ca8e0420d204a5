"""Every log line the service writes is one line and carries no patient id.

Installed once per process (`install`): each log record's message is rendered, its control characters
escaped (a newline in an id sent by a caller cannot forge a line) and every `Patient/<id>` in it
replaced by the keyed hash of the id (cds.patient_hash: `Patient/#<hash>`, the form the card log
keeps, so an operator can still match the two). uvicorn's access records keep their arguments (its
formatter reads them), each escaped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PATIENT = re.compile(r"Patient/(?!#)([^\s,;:'\"()\[\]{}]+)")
ACCESS_LOGGER = "uvicorn.access"


def escaped(text: str) -> str:
    """`text` with each control character written as a visible escape (\\n, \\x1b, \\u2028)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def cleaned(text: str, hasher: Callable[[str], str]) -> str:
    """One line: patient references as keyed hashes, control characters escaped."""
    return escaped(_PATIENT.sub(lambda match: f"Patient/#{hasher(match.group(1))}", text))


def install(hasher: Callable[[str], str]) -> None:
    """Clean every log record this process makes from now on."""
    make = logging.getLogRecordFactory()
    if getattr(make, "cleans_logs", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple):
            record.args = tuple(cleaned(arg, hasher) if isinstance(arg, str) else arg for arg in record.args)
        else:
            record.msg, record.args = cleaned(record.getMessage(), hasher), ()
        return record

    factory.cleans_logs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
