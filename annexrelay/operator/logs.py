"""
C{--log-format json}: one JSON object a line, for log shippers.  Each has
C{time} (ISO 8601, UTC), C{level}, C{namespace}, C{message} (the text the
plain log shows), a C{traceback} for a failure, and the event's own fields
(front door, operation, key, outcome, bytes, seconds, node, reason, ...)
where they are plain values.
"""

import json
import time

from zope.interface import implementer
from twisted.logger import ILogObserver, formatEvent

_PLAIN = (str, int, float, bool, type(None))


@implementer(ILogObserver)
class JSONLines:
    """
    @param out: a text file to write to (flushed after each line).
    """

    def __init__(self, out):
        self.out = out

    def __call__(self, event):
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event.get("log_time", 0))) + "Z",
            "level": getattr(event.get("log_level"), "name", "info"),
            "namespace": event.get("log_namespace", ""),
            "message": formatEvent(event),
        }
        failure = event.get("log_failure")
        if failure is not None:
            record["traceback"] = failure.getTraceback()
        for k, v in event.items():
            if not k.startswith("log_") and k not in record and isinstance(v, _PLAIN):
                record[k] = v
            elif isinstance(v, bytes) and not k.startswith("log_"):
                record[k] = v.decode("utf-8", "replace")
        self.out.write(json.dumps(record, default=str) + "\n")
        self.out.flush()
