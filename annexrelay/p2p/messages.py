"""
Messages of the git-annex P2P protocol, versions 0 to 4, as pure functions.

One table (L{GRAMMAR}) says, for every message word, which fields follow it
and from which protocol version it exists.  L{parse} turns one line (without
its newline) into a L{Message}; L{format} turns a L{Message} back into the
bytes of one line (with the newline).  Nothing here knows about sockets or
Twisted.

Field values are kept as the bytes that were on the wire, except numbers,
which become L{int}.  In particular the associated file token is never
decoded: a relay forwards it byte for byte.
"""

import re
from typing import NamedTuple, Tuple, Union

MAX_VERSION = 4

# Field kinds.
UUID = "uuid"  # opaque token without whitespace
KEY = "key"  # a git-annex key; as the last field it takes the rest of the line
NUM = "num"  # decimal integer, parsed leniently like git-annex does
AF = "af"  # associated file token (possibly empty), kept verbatim
TEXT = "text"  # free text: the rest of the line
UUIDS = "uuids"  # whitespace separated list (possibly empty), rest of line
SERVICE = "service"  # git-upload-pack or git-receive-pack
TOKEN = "token"  # auth token


class Message(NamedTuple):
    """
    One protocol message: its word (C{"PUT"}, C{"DATA"}, ...) and its fields
    in the order of L{GRAMMAR}.
    """

    name: str
    args: Tuple[Union[bytes, int, Tuple[bytes, ...]], ...] = ()

    def __repr__(self) -> str:
        return "<%s %r>" % (self.name, self.args)


class Unparsable(NamedTuple):
    """
    A line that is not a message: it gets C{ERROR unknown command}.
    """

    line: bytes


# word -> (field kinds, first protocol version that has it)
GRAMMAR = {
    "AUTH": ((UUID, TOKEN), 0),
    "AUTH-SUCCESS": ((UUID,), 0),
    "AUTH-FAILURE": ((), 0),
    "VERSION": ((NUM,), 0),
    "BYPASS": ((UUIDS,), 2),
    "CHECKPRESENT": ((KEY,), 0),
    "LOCKCONTENT": ((KEY,), 0),
    "UNLOCKCONTENT": ((), 0),
    "REMOVE": ((KEY,), 0),
    "REMOVE-BEFORE": ((NUM, KEY), 3),
    "GETTIMESTAMP": ((), 3),
    "TIMESTAMP": ((NUM,), 3),
    "GET": ((NUM, AF, KEY), 0),
    "PUT": ((AF, KEY), 0),
    "PUT-FROM": ((NUM,), 0),
    "ALREADY-HAVE": ((), 0),
    "ALREADY-HAVE-PLUS": ((UUIDS,), 2),
    "DATA": ((NUM,), 0),
    "DATA-PRESENT": ((), 4),
    "VALID": ((), 1),
    "INVALID": ((), 1),
    "SUCCESS": ((), 0),
    "FAILURE": ((), 0),
    "SUCCESS-PLUS": ((UUIDS,), 2),
    "FAILURE-PLUS": ((UUIDS,), 2),
    "CONNECT": ((SERVICE,), 0),
    "CONNECTDONE": ((NUM,), 0),
    "NOTIFYCHANGE": ((), 0),
    "CHANGED": ((UUIDS,), 0),
    "ERROR": ((TEXT,), 0),
}

_WORDS = {name.encode("ascii"): name for name in GRAMMAR}

# Haskell's isSpace for the ASCII range, which is what git-annex splits on.
_SPACE = b" \t\n\r\x0b\x0c"
_SPLIT = re.compile(rb"[ \t\n\r\x0b\x0c]")
# git-annex reads numbers with Haskell's reads: leading blanks, an optional
# minus sign, digits; whatever follows in that field is ignored.
_NUMBER = re.compile(rb"[ \t\n\r\x0b\x0c]*(-?[0-9]+)")
_KEY = re.compile(rb"[^-\s]+(?:-s[0-9]+)?(?:-m[0-9]+)?(?:-S[0-9]+)?(?:-C[0-9]+)?--.+\Z", re.S)
_TOKEN = re.compile(rb"[A-Za-z0-9]*\Z")
_SERVICES = (b"git-upload-pack", b"git-receive-pack")


class _Bad(Exception):
    pass


def _split_word(s: bytes):
    m = _SPLIT.search(s)
    if m is None:
        return s, b""
    i = m.start()
    return s[:i], s[i + 1 :]


def _field(kind: str, raw: bytes):
    if kind == NUM:
        m = _NUMBER.match(raw)
        if m is None:
            raise _Bad()
        return int(m.group(1))
    if kind == KEY:
        if not _KEY.match(raw):
            raise _Bad()
        return raw
    if kind == AF:
        if raw.startswith(b"/"):
            raise _Bad()
        return raw
    if kind == UUID:
        if not raw or any(c in _SPACE for c in raw):
            raise _Bad()
        return raw
    if kind == UUIDS:
        return tuple(raw.split())
    if kind == TEXT:
        return raw
    if kind == SERVICE:
        if raw not in _SERVICES:
            raise _Bad()
        return raw
    if kind == TOKEN:
        if not _TOKEN.match(raw):
            raise _Bad()
        return raw.lower()
    raise AssertionError(kind)  # pragma: no cover


def parse(line: bytes) -> Union[Message, Unparsable]:
    """
    Parse one line (without its trailing newline; a single trailing CR is
    removed) the way git-annex does: the command word ends at the first
    whitespace, each field but the last ends at the next whitespace, and the
    last field takes the remainder of the line.

    @return: a L{Message}, or L{Unparsable} when git-annex would not parse it.
    """
    if line.endswith(b"\r"):
        line = line[:-1]
    word, rest = _split_word(line)
    name = _WORDS.get(word)
    if name is None:
        return Unparsable(line)
    kinds = GRAMMAR[name][0]
    if not kinds:
        return Message(name) if rest == b"" else Unparsable(line)
    args = []
    try:
        for kind in kinds[:-1]:
            raw, rest = _split_word(rest)
            args.append(_field(kind, raw))
        args.append(_field(kinds[-1], rest))
    except _Bad:
        return Unparsable(line)
    return Message(name, tuple(args))


def _encode(kind: str, value) -> bytes:
    if kind == NUM:
        return b"%d" % value
    if kind == UUIDS:
        return b" ".join(value)
    return value


def format(msg: Message) -> bytes:
    """
    The wire bytes of C{msg}, newline included.
    """
    kinds = GRAMMAR[msg.name][0]
    if len(kinds) != len(msg.args):
        raise ValueError("%s takes %d fields, got %r" % (msg.name, len(kinds), msg.args))
    parts = [msg.name.encode("ascii")]
    parts.extend(_encode(k, v) for k, v in zip(kinds, msg.args))
    if kinds and kinds[-1] == UUIDS and not msg.args[-1]:
        parts.pop()
    return b" ".join(parts) + b"\n"


def min_version(name: str) -> int:
    """
    The first protocol version that has message C{name}.
    """
    return GRAMMAR[name][1]


# Constructors for the messages a relay sends most.


def error(text: Union[str, bytes]) -> Message:
    if isinstance(text, str):
        text = text.encode("utf-8", "replace")
    return Message("ERROR", (text.replace(b"\n", b" "),))


def version(n: int) -> Message:
    return Message("VERSION", (n,))


def data(n: int) -> Message:
    return Message("DATA", (n,))


SUCCESS = Message("SUCCESS")
FAILURE = Message("FAILURE")
VALID = Message("VALID")
INVALID = Message("INVALID")
UNLOCKCONTENT = Message("UNLOCKCONTENT")
ALREADY_HAVE = Message("ALREADY-HAVE")
PUT_FROM_0 = Message("PUT-FROM", (0,))

# The exact texts git-annex sends, so clients recognise them.
UNKNOWN_COMMAND = error("unknown command")
UNEXPECTED_COMMAND = error("unexpected command")
READ_ONLY = error("this repository is read-only; write access denied")
APPEND_ONLY = error("this repository is append-only; removal denied")
EXPECTED_UNLOCKCONTENT = error("expected UNLOCKCONTENT")
EXPECTED_DATA = error("expected DATA")
EXPECTED_VALID = error("expected VALID or INVALID")
SHUTTING_DOWN = error("shutting down")


def expected_client_verdict(v: int) -> Message:
    """
    What a server answers when the client's reply after GET data is neither
    SUCCESS nor FAILURE, in the text git-annex uses at version C{v}.
    """
    if v >= 2:
        return error("expected SUCCESS or SUCCESS-PLUS or FAILURE or FAILURE-PLUS")
    return error("expected SUCCESS or FAILURE")


def is_reply(reply, *names) -> bool:
    """
    Whether C{reply} (a L{Message}, L{Unparsable} or None for a peer that
    broke) is one of the messages C{names}.
    """
    return isinstance(reply, Message) and reply.name in names


def plus_uuids(reply) -> list:
    """
    The UUIDs a C{-PLUS} reply names, else none.
    """
    if isinstance(reply, Message) and reply.name.endswith("-PLUS"):
        return list(reply.args[0])
    return []


def plus_or_plain(name: str, uuids, client_version: int) -> Message:
    """
    C{SUCCESS}/C{FAILURE}/C{ALREADY-HAVE} with extra UUIDs as the C{-PLUS}
    form when the client speaks version 2 or later and there are any; the
    plain form otherwise.
    """
    if client_version >= 2 and uuids:
        return Message(name + "-PLUS", (tuple(uuids),))
    return Message(name)
