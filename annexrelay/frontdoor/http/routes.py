"""
The p2phttp routes and their parameters, as pure functions: a request's
method, path, query and headers in, a L{Route} or a L{Refusal} (status and
body, in git-annex's words) out.

git-annex's server is a servant API, and a drop-in refuses bad input as
servant does (checked against git-annex 10.20261026 by
C{tests/interop/test_http_differential.py}):

 - the API is a list of routes, one per action and version; a request
   that matches none in shape is 404;
 - each route checks, in order, its path captures (server UUID, version,
   key: a failure is a I{recoverable} 400 whose body is the parse error,
   e.g. C{bad version}), its method (recoverable 405), its query
   parameters in API order and then its headers (a failure there is
   I{final}: 400 C{Query parameter key is required}, C{Error parsing query
   parameter key failed: key parse error}, ...);
 - the first route that accepts the request, or fails finally, decides;
   otherwise the most important recoverable failure does (400 before 405
   before 404; the earlier route among equals).

Query values are raw, or C{[base64url]} for bytes that are not text; the
first occurrence of a parameter wins (C{bypass} is a list).  An unknown
UUID is answered 404 later, by the door, after these checks, as git-annex
does.
"""

import base64
import re
from typing import NamedTuple, Optional
from urllib.parse import unquote_to_bytes


# action -> (method, versions in API order, parameters in API order).
# A parameter is (name, kind, required); kinds are below.
_KEY = ("key", "key", True)
_CU = ("clientuuid", "uuid", True)
_BYPASS = ("bypass", "uuids", False)
_AF = ("associatedfile", "file", False)
_OFFSET = ("offset", "integer", False)
ALL = (4, 3, 2, 1, 0)
ACTIONS = {
    "key": ("GET", ALL, (_CU, _BYPASS, _AF, _OFFSET)),
    "checkpresent": ("POST", ALL, (_KEY, _CU, _BYPASS)),
    "remove": ("POST", ALL, (_KEY, _CU, _BYPASS)),
    "remove-before": ("POST", (4, 3), (_KEY, _CU, _BYPASS, ("timestamp", "integer", True))),
    "gettimestamp": ("POST", (4, 3), (_CU, _BYPASS)),
    "put": ("POST", ALL, (_KEY, _CU, _BYPASS, _AF, _OFFSET)),
    "putoffset": ("POST", (4, 3, 2, 1), (_KEY, _CU, _BYPASS)),
    "lockcontent": ("POST", ALL, (_KEY, _CU, _BYPASS)),
    "keeplocked": ("POST", ALL, (("lockid", "uuid", True), ("clientuuid", "uuid", False), _BYPASS)),
}
# The unversioned key GET (git-annex runs it as v0, the server UUID as
# client UUID).
GENERIC = ("GET", (), (("clientuuid", "uuid", False), _BYPASS))
# What each action needs of the caller (git-annex's action classes).
CLASSES = {
    "key": "read",
    "checkpresent": "read",
    "gettimestamp": "read",
    "put": "write",
    "putoffset": "write",
    "remove": "remove",
    "remove-before": "remove",
    "lockcontent": "lock",
    "keeplocked": "lock",
}
DATA_LENGTH = "x-git-annex-data-length"

_KEY_RE = re.compile(rb"[^-\s]+(?:-s[0-9]+)?(?:-m[0-9]+)?(?:-S[0-9]+)?(?:-C[0-9]+)?--[^\n]*\Z", re.S)
_INTEGER = re.compile(r"\s*(-?[0-9]+)\s*\Z")
# servant's order of importance among recoverable failures.
_PRIORITY = {404: 0, 405: 1, 401: 2, 415: 3, 406: 4, 400: 6}


class Route(NamedTuple):
    """
    A request git-annex's API accepts.

    @ivar action: C{key} (a GET), C{checkpresent}, C{put}, ...
    @ivar version: the P2P protocol version (0 for the unversioned GET).
    @ivar uuid: the server UUID the path names (bytes).
    @ivar params: parameter name -> value (bytes, int, or a tuple of bytes
        for C{bypass}); absent optional parameters are missing.
    @ivar generic: True for the unversioned C{GET /git-annex/U/key/K}.
    """

    action: str
    version: int
    uuid: bytes
    params: dict
    generic: bool = False

    @property
    def actionClass(self):
        return CLASSES[self.action]


class Refusal(NamedTuple):
    """
    A request refused: its HTTP status and body.
    """

    status: int
    body: bytes = b""
    final: bool = True


class _Bad(Exception):
    pass


def decode_value(raw: bytes) -> bytes:
    """
    A query value or path segment as git-annex reads it: C{[base64url]}
    is decoded, anything else taken as it is.
    """
    if len(raw) >= 2 and raw[:1] == b"[" and raw[-1:] == b"]":
        inner = raw[1:-1]
        try:
            if re.search(rb"[^A-Za-z0-9_=-]", inner):
                raise ValueError(inner)
            return base64.urlsafe_b64decode(inner + b"=" * (-len(inner) % 4))
        except ValueError:
            raise _Bad("unable to base64 decode [] wrapped value")
    return raw


def _typed(kind, raw):
    value = decode_value(raw)
    if kind == "key":
        if not _KEY_RE.match(value):
            raise _Bad("key parse error")
        return value
    if kind == "uuid":
        if not value:
            raise _Bad("empty UUID")
        return value
    if kind == "file":
        return value
    if kind == "integer":
        m = _INTEGER.match(value.decode("utf-8", "replace"))
        if m is None:
            raise _Bad(None)
        return int(m.group(1))
    raise AssertionError(kind)  # pragma: no cover


def parse_query(query: bytes):
    """
    The query string as C{[(name, value or None)]}, percent-decoded
    (C{+} is a space), in order.
    """
    out = []
    for part in query.split(b"&"):
        if not part:
            continue
        name, eq, value = part.partition(b"=")
        name = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
        out.append((name, unquote_to_bytes(value.replace(b"+", b" ")) if eq else None))
    return out


def split_path(path: bytes):
    """
    The path's segments, percent-decoded, as WAI's C{pathInfo}.
    """
    segments = path.split(b"/")
    if segments and segments[0] == b"":
        segments = segments[1:]
    return [unquote_to_bytes(s) for s in segments]


def _params(specs, query, version):
    found = {}
    for name, kind, required in specs:
        values = [v for n, v in query if n == name]
        if kind == "uuids":
            good, errors = [], []
            for v in values:
                try:
                    good.append(_typed("uuid", v if v is not None else b""))
                except _Bad as e:
                    errors.append(str(e))
            if errors:
                raise _Bad("Error parsing query parameter(s) %s failed: %s" % (name, ", ".join(errors)))
            found[name] = tuple(good)
            continue
        raw = values[0] if values else None
        if raw is None:
            if required:
                raise _Bad("Query parameter %s is required" % (name,))
            continue
        try:
            found[name] = _typed(kind, raw)
        except _Bad as e:
            why = e.args[0] or "%s parse error" % (name,)
            raise _Bad("Error parsing query parameter %s failed: %s" % (name, why))
    if version == 4 and specs is ACTIONS["put"][2]:
        found.update(_dataPresent(query))
    return found


def _dataPresent(query):
    for n, v in query:
        if n == "data-present" and v is not None:
            word = v.decode("utf-8", "replace")
            if word.lower() in ("true", "false"):
                return {"data-present": word.lower() == "true"}
            raise _Bad("Error parsing query parameter data-present failed: could not parse: `%s'" % (word,))
    return {}


def _headers(action, headers):
    found = {}
    if action == "put":
        raw = headers.get(DATA_LENGTH)
        if raw is None:
            raise _Bad("Header X-git-annex-data-length is required")
        m = _INTEGER.match(raw.decode("utf-8", "replace"))
        if m is None:
            raise _Bad("Error parsing header X-git-annex-data-length failed: X-git-annex-data-length parse error")
        found["datalength"] = int(m.group(1))
    return found


def _leaf(method, action, specs, versionSeg, captures, verb, query, headers, generic):
    """
    One route of the API against the request: a L{Route}, or a L{Refusal}
    (final or recoverable).
    """
    uuidSeg, keySeg = captures
    try:
        uuid = _typed("uuid", uuidSeg)
    except _Bad as e:
        return Refusal(400, str(e).encode(), final=False)
    version = 0
    if not generic:
        if versionSeg != b"v%d" % (action[1],):
            return Refusal(400, b"bad version", final=False)
        version = action[1]
    params = {}
    if keySeg is not None:
        try:
            params["key"] = _typed("key", keySeg)
        except _Bad as e:
            return Refusal(400, str(e).encode(), final=False)
    if verb != method and not (verb == "HEAD" and method == "GET"):
        return Refusal(405, final=False)
    try:
        params.update(_params(specs, query, version))
        params.update(_headers(action[0], headers))
    except _Bad as e:
        return Refusal(400, str(e).encode())
    return Route(action[0], version, uuid, params, generic)


def _candidates(segments):
    """
    The routes whose shape fits the path: C{(action, version or None,
    specs, method, version segment, (uuid segment, key segment))}.
    """
    if not segments or segments[0] != b"git-annex":
        return []
    rest = segments[1:]
    if rest and rest[-1] == b"" and len(rest) > 1:
        rest = rest[:-1]
    out = []
    if len(rest) >= 3:
        uuidSeg, versionSeg, actionSeg = rest[0], rest[1], rest[2].decode("utf-8", "replace")
        spec = ACTIONS.get(actionSeg)
        if spec is not None:
            method, versions, specs = spec
            if actionSeg == "key" and len(rest) == 4:
                out += [((actionSeg, v), specs, method, versionSeg, (uuidSeg, rest[3]), False) for v in versions]
            elif actionSeg != "key" and len(rest) == 3:
                out += [((actionSeg, v), specs, method, versionSeg, (uuidSeg, None), False) for v in versions]
    if len(rest) == 3 and rest[1] == b"key":
        method, _, specs = GENERIC
        out.append((("key", 0), specs, method, None, (rest[0], rest[2]), True))
    return out


def route(verb: str, path: bytes, query: bytes, headers: dict):
    """
    Match a request against git-annex's API.

    @param verb: the HTTP method.
    @param path: the path, without the query.
    @param headers: lower-case header name -> first value (bytes).
    @return: a L{Route} or a L{Refusal}.
    """
    q = parse_query(query)
    best = None
    for action, specs, method, versionSeg, captures, generic in _candidates(split_path(path)):
        result = _leaf(method, action, specs, versionSeg, captures, verb, q, headers, generic)
        if isinstance(result, Route) or result.final:
            return result
        if best is None or _PRIORITY.get(result.status, 5) > _PRIORITY.get(best.status, 5):
            best = result
    return best if best is not None else Refusal(404)


def authorization(value: Optional[bytes]):
    """
    An C{Authorization} header as git-annex reads it.

    @return: None (no header), C{(user, password)} as bytes, or a
        L{Refusal} for a header that is not HTTP basic authentication.
    """
    if value is None:
        return None
    scheme, _, rest = value.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return Refusal(400, b"Error parsing header Authorization failed: invalid basic auth header")
    try:
        decoded = base64.b64decode(rest.strip() + b"=" * (-len(rest.strip()) % 4))
    except ValueError:
        return (b"", b"")
    user, _, password = decoded.partition(b":")
    return (user, password)
