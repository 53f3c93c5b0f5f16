"""
git's pkt-line framing, as pure functions: what annexrelay writes to git
itself inside a P2P C{CONNECT} (a refusal as an C{ERR} packet, which git
prints before it ends).

A packet is four hex digits giving its length including those four, then
the payload; C{0000} is a flush packet.
"""

from typing import List, Tuple

FLUSH = b"0000"
MAX_PAYLOAD = 65516
_HEX = frozenset(b"0123456789abcdefABCDEF")


class PktLineError(ValueError):
    """
    Bytes that are not pkt-line framing.
    """


def encode(payload: bytes) -> bytes:
    """
    One packet carrying C{payload}.
    """
    if len(payload) > MAX_PAYLOAD:
        raise PktLineError("pkt-line payload of %d bytes (at most %d)" % (len(payload), MAX_PAYLOAD))
    return b"%04x" % (len(payload) + 4,) + payload


def error(text: bytes) -> bytes:
    """
    The C{ERR} packet git prints as C{fatal: remote error: TEXT} (or the
    like) and ends on.
    """
    return encode(b"ERR " + text.replace(b"\n", b" ")[: MAX_PAYLOAD - 5] + b"\n")


def decode(data: bytes) -> Tuple[List[bytes], bytes]:
    """
    The complete packets at the start of C{data} (a flush packet as
    C{b""}), and the bytes left over.
    """
    packets = []
    at = 0
    while len(data) - at >= 4:
        head = data[at : at + 4]
        if not all(c in _HEX for c in head):
            raise PktLineError("not a pkt-line length: %r" % (head,))
        n = int(head, 16)
        if n == 0:
            packets.append(b"")
            at += 4
            continue
        if n < 4:
            raise PktLineError("pkt-line length %d" % (n,))
        if len(data) - at < n:
            break
        packets.append(data[at + 4 : at + n])
        at += n
    return packets, data[at:]
