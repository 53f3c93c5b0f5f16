"""
The timestamp every git-annex branch log line carries (git-annex's vector
clock): C{<seconds>[.<fraction>][s]}, e.g. C{1700000000.123456789s}.
"""

import re
from typing import Optional

_TIMESTAMP = re.compile(rb"^([0-9]+)(?:\.([0-9]*))?s?$")


def parse_timestamp(text: bytes) -> Optional[float]:
    """
    The time C{text} gives, or None when it is not a timestamp.
    """
    m = _TIMESTAMP.match(text)
    if m is None:
        return None
    return float(m.group(1) + b"." + (m.group(2) or b"0"))
