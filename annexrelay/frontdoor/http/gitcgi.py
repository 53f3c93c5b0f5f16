"""
The CGI side of C{git http-backend}, as pure functions: the environment
one request runs it with, and the head of its output (CGI headers).

The environment is built from nothing but the request and the daemon's
few variables git needs (C{PATH}, C{HOME}, ...): never the daemon's own
(no C{GIT_ANNEX_P2PHTTP_PASSWORD_*}), never the request's credentials.
Request headers become C{HTTP_*} as CGI says, except C{Authorization},
C{Proxy} (httpoxy) and names that are not tokens.  What the run may do
is given as git config through C{GIT_CONFIG_COUNT}/C{_KEY_n}/C{_VALUE_n}:
C{http.receivepack} only for a caller allowed to write, and for an
append-only one C{receive.denyDeletes} and C{receive.denyNonFastForwards}
(a push may add, never rewrite or delete).
"""

import re
from typing import List, NamedTuple, Optional, Tuple

# What git and its hooks need of the daemon's environment.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "GIT_EXEC_PATH", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM")
_NOT_PASSED = {"AUTHORIZATION", "PROXY_AUTHORIZATION", "PROXY", "CONTENT_TYPE", "CONTENT_LENGTH"}
_TOKEN = re.compile(rb"[A-Za-z0-9-]+\Z")
_DIGITS = re.compile(rb"[0-9]{1,18}\Z")
HEAD_LIMIT = 65536
_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"trailer", b"te"}


def run_config(write: bool, appendOnly: bool = False) -> List[Tuple[str, str]]:
    """
    The git config a run gets: pushing only when C{write}.
    """
    config = [("http.receivepack", "true" if write else "false"), ("http.uploadpack", "true")]
    if write and appendOnly:
        config += [("receive.denyDeletes", "true"), ("receive.denyNonFastForwards", "true")]
    return config


def environ(
    base, projectRoot: str, pathInfo: str, method: str, query: bytes, headers, remoteAddr: str,
    remoteUser: Optional[str], config, secure: bool = False,
) -> dict:
    """
    @param base: the daemon's environment (only L{KEPT} is taken).
    @param headers: the request's headers, C{[(name, value)]} (bytes).
    @param config: C{[(key, value)]} for the run (L{run_config}).
    @return: the CGI environment (str -> bytes or str).
    """
    env = {k: base[k] for k in KEPT if k in base}
    env.update(
        GATEWAY_INTERFACE="CGI/1.1",
        SERVER_PROTOCOL="HTTP/1.1",
        SERVER_SOFTWARE="annexrelay",
        GIT_PROJECT_ROOT=projectRoot,
        GIT_HTTP_EXPORT_ALL="1",
        PATH_INFO=pathInfo,
        REQUEST_METHOD=method,
        QUERY_STRING=query,
        REMOTE_ADDR=remoteAddr,
    )
    if secure:
        env["HTTPS"] = "on"
    if remoteUser:
        env["REMOTE_USER"] = remoteUser
    for name, value in headers:
        if not _TOKEN.match(name) or b"\0" in value:
            continue
        key = name.decode("ascii").upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            env["CONTENT_TYPE"] = value
        elif key == "CONTENT_LENGTH":
            if _DIGITS.match(value.strip()):
                env["CONTENT_LENGTH"] = value.strip()
        elif key not in _NOT_PASSED:
            http = "HTTP_" + key
            env[http] = env[http] + b", " + value if http in env else value
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (k, v) in enumerate(config):
        env["GIT_CONFIG_KEY_%d" % i] = k
        env["GIT_CONFIG_VALUE_%d" % i] = v
    return env


class Head(NamedTuple):
    """
    The head of a CGI's output.

    @ivar status: the HTTP status (C{Status:}, else 302 with a
        C{Location}, else 200).
    @ivar reason: its phrase (bytes), or None.
    @ivar headers: the other headers, C{[(name, value)]}, hop-by-hop ones
        left out (twisted.web frames the response).
    @ivar size: the head's length in the output (the body starts there).
    """

    status: int
    reason: Optional[bytes]
    headers: list
    size: int


class BadHead(ValueError):
    """
    The CGI's output does not start with a head.
    """


def parse_head(output: bytes) -> Optional[Head]:
    """
    The head at the start of C{output} (lines ending in LF or CRLF, ended
    by an empty line), or None while it is incomplete.

    @raise BadHead: a line that is not C{Name: value}, a bad status, or no
        end within L{HEAD_LIMIT} bytes.
    """
    end, size = _end(output)
    if end is None:
        if len(output) > HEAD_LIMIT:
            raise BadHead("no end of the CGI headers in %d bytes" % (HEAD_LIMIT,))
        return None
    if end > HEAD_LIMIT:
        raise BadHead("CGI headers over %d bytes" % (HEAD_LIMIT,))
    status, reason, headers = None, None, []
    location = False
    for line in output[:end].split(b"\n"):
        line = line[:-1] if line.endswith(b"\r") else line
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise BadHead("not a CGI header: %r" % (line[:80],))
        value = value.strip()
        lower = name.lower()
        if lower == b"status":
            code, _, phrase = value.partition(b" ")
            if not re.match(rb"[1-5][0-9][0-9]\Z", code):
                raise BadHead("bad CGI status: %r" % (value[:80],))
            status, reason = int(code), phrase.strip() or None
        elif lower not in _HOP:
            location = location or lower == b"location"
            headers.append((name, value))
    if status is None:
        status = 302 if location else 200
    return Head(status, reason, headers, size)


def _end(output):
    """
    Where the head's last line ends, and where the body starts.
    """
    if output.startswith(b"\n"):
        raise BadHead("empty CGI head")
    if output.startswith(b"\r\n"):
        raise BadHead("empty CGI head")
    lf = output.find(b"\n\n")
    crlf = output.find(b"\n\r\n")
    if lf < 0 and crlf < 0:
        return None, None
    if crlf < 0 or (0 <= lf < crlf):
        return lf, lf + 2
    return crlf, crlf + 3
