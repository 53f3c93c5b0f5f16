"""
git's side of the annex+http listener, as pure functions: which requests
are git's smart HTTP (and C{/config}), and what C{/config} says.

A repository's clone URL is the listener's root with C{--repo}
(C{http://HOST:PORT/}), or its path under C{--directory}
(C{http://HOST:PORT/lab/dataset/}); git's requests are that URL followed
by one of:

 - C{info/refs?service=git-upload-pack} (GET): clone, fetch, pull;
 - C{git-upload-pack} (POST): the same;
 - C{info/refs?service=git-receive-pack} (GET), C{git-receive-pack}
   (POST): push;
 - C{config} (GET, HEAD): what a git-annex client reads of an http remote
   whose UUID it does not know (C{annex.uuid}, C{annex.url}, C{core.bare}),
   served by annexrelay itself (C{git http-backend} answers it 404).

Nothing else is git's (the dumb protocol is not served): any other path is
the annex side's (404 there).  Empty segments are ignored (git-annex asks
C{http://HOST:PORT//config} of a clone URL ending in C{/}); a repository's
path never has a C{.} or C{..} segment, so no request leaves it.
"""

import re
from typing import NamedTuple, Optional, Tuple
from urllib.parse import quote, unquote_to_bytes, urlsplit

from annexrelay.frontdoor.http.routes import Refusal, parse_query

# service -> (the path's tail, methods, action class)
SERVICES = {
    "info/refs": ((b"info", b"refs"), ("GET",), "read"),
    "git-upload-pack": ((b"git-upload-pack",), ("POST",), "read"),
    "git-receive-pack": ((b"git-receive-pack",), ("POST",), "write"),
    "config": ((b"config",), ("GET", "HEAD"), "read"),
}
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z")


class GitRoute(NamedTuple):
    """
    A git request.

    @ivar service: a key of L{SERVICES}.
    @ivar scope: the repository's path under C{--directory} (segments,
        bytes); C{()} for the single repository.
    @ivar query: the query string as sent (bytes).
    @ivar actionClass: C{read} or C{write} (what the door's C{authorize}
        is asked).
    """

    service: str
    scope: Tuple[bytes, ...]
    query: bytes
    actionClass: str

    @property
    def pathInfo(self) -> str:
        """
        C{PATH_INFO} for C{git http-backend}: the tail alone (the
        repository is C{GIT_PROJECT_ROOT}).
        """
        return "/" + self.service

    @property
    def name(self) -> str:
        """
        What the request log calls it.
        """
        if self.service == "info/refs":
            svc = dict(parse_query(self.query)).get("service") or b"dumb"
            return "git refs " + svc.decode("utf-8", "replace").replace("git-", "")
        return "git " + self.service.replace("git-", "")


def git_route(verb: str, path: bytes, query: bytes, scoped: bool):
    """
    @param scoped: with C{--directory} (a repository's path comes first).
    @return: a L{GitRoute}, a L{Refusal} (405 for a git path asked with
        the wrong method), or None: not a git request.
    """
    segments = [s for s in path.split(b"/") if s]
    for service, (tail, methods, actionClass) in SERVICES.items():
        n = len(tail)
        if tuple(segments[-n:]) != tail or len(segments) < n:
            continue
        try:
            scope = _scope(segments[:-n])
        except ValueError:
            return None
        if scope and not scoped:
            return None
        if verb not in methods:
            return Refusal(405, b"")
        if service == "info/refs":
            wanted = dict(parse_query(query)).get("service")
            actionClass = "write" if wanted == b"git-receive-pack" else "read"
        return GitRoute(service, scope, query, actionClass)
    return None


def _scope(segments) -> Tuple[bytes, ...]:
    scope = tuple(unquote_to_bytes(s) for s in segments)
    for s in scope:
        if s in (b".", b"..") or not s or b"/" in s or b"\0" in s:
            raise ValueError(s)
    return scope


def check_public_url(url: str) -> str:
    """
    C{--public-url}: an http(s) URL with a host, no user, query or
    fragment; returned without its trailing C{/}.

    @raise ValueError: saying why not.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("--public-url must start with http:// or https://, not %r" % (url,))
    if not parts.hostname or "@" in parts.netloc:
        raise ValueError("--public-url needs a host (and no user): %r" % (url,))
    if parts.query or parts.fragment or any(c in url for c in "\n\r\t \"\\"):
        raise ValueError("--public-url may not have a query, a fragment, spaces or quotes: %r" % (url,))
    return url.rstrip("/")


def annex_url(secure: bool, host: Optional[bytes], fallback: str, scope, publicUrl: Optional[str] = None) -> str:
    """
    The C{annex.url} a repository advertises: C{annex+http(s)://HOST/PATH/git-annex/}.

    @param host: the request's C{Host} header (None or unusable:
        C{fallback}, the listener's own address).
    @param scope: the repository's path under C{--directory} (segments).
    @param publicUrl: C{--public-url}, which wins over the request's
        scheme and host.
    """
    path = "".join("/" + quote(s, safe="") for s in scope)
    if publicUrl is not None:
        return "annex+%s%s/git-annex/" % (publicUrl, path)
    text = host.decode("latin-1") if host else ""
    if not _HOST.match(text):
        text = fallback
    return "annex+%s://%s%s/git-annex/" % ("https" if secure else "http", text, path)


def _value(v: str) -> str:
    if any(c in v for c in "\n\r\0"):
        raise ValueError("a git config value may not have a line break: %r" % (v,))
    return '"%s"' % (v.replace("\\", "\\\\").replace('"', '\\"'),)


def format_config(uuid: bytes, url: str, bare: bool) -> bytes:
    """
    The body of C{/config}: a git config file with exactly
    C{core.bare}, C{annex.uuid} and C{annex.url} (nothing else of the
    repository's config: no remotes, no credentials).
    """
    text = "[core]\n\tbare = %s\n[annex]\n\tuuid = %s\n\turl = %s\n" % (
        "true" if bare else "false",
        _value(uuid.decode("ascii")),
        _value(url),
    )
    return text.encode("utf-8")
