"""
The C{--metrics ENDPOINT} listener (twisted.web):

 - C{/metrics}: the Prometheus text format, from the daemon's own registry;
 - C{/healthz}: 200 while the repository and the branch writer are usable,
   503 with the reason otherwise;
 - C{/readyz}: 503 while the daemon cannot take requests (it is stopping,
   or a front door's admission queue is full: C{RelayCore.saturation});
 - C{/status.json}: the snapshot (L{annexrelay.operator.status});
 - C{/}: the live status page, server-rendered HTML with no external asset,
   readable with JavaScript off (a small script refreshes it).

With C{--directory}, the snapshot and the page are grouped by repository.
"""

import json
import os

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.web import resource

from annexrelay.operator.page import render_directory_page, render_page


class _Leaf(resource.Resource):
    isLeaf = True

    def __init__(self, render):
        resource.Resource.__init__(self)
        self._render = render

    def render_GET(self, request):
        status, ctype, body = self._render()
        request.setResponseCode(status)
        request.setHeader(b"content-type", ctype)
        request.setHeader(b"cache-control", b"no-store")
        return body

    def render_HEAD(self, request):
        self.render_GET(request)
        return b""


class OperatorResource(resource.Resource):
    """
    @param status: the L{annexrelay.operator.status.Status}.
    @param registry: the Prometheus registry to expose.
    """

    def __init__(self, status, registry):
        resource.Resource.__init__(self)
        self.status = status
        self.registry = registry
        self.putChild(b"metrics", _Leaf(self._metrics))
        self.putChild(b"healthz", _Leaf(self._healthz))
        self.putChild(b"readyz", _Leaf(self._readyz))
        self.putChild(b"status.json", _Leaf(self._json))
        self.putChild(b"", _Leaf(self._page))

    def _metrics(self):
        return 200, CONTENT_TYPE_LATEST.encode(), generate_latest(self.registry)

    def _healthz(self):
        why = self.unhealthy()
        if why:
            return 503, b"text/plain; charset=utf-8", ("unhealthy: %s\n" % (why,)).encode()
        return 200, b"text/plain; charset=utf-8", b"ok\n"

    def unhealthy(self):
        """
        Why the daemon cannot serve, or "".
        """
        core = self.status.core
        gitDir = core.repository.gitDir
        if not os.path.isdir(gitDir):
            return "the repository's git directory %s is gone" % (gitDir,)
        writer = core.locationLog
        if writer.failing:
            return "the location log writer cannot commit: %s" % (writer.failing,)
        return ""

    def _readyz(self):
        core = self.status.core
        if core.stopping:
            return 503, b"text/plain; charset=utf-8", b"not ready: shutting down\n"
        for saturated in getattr(core, "saturation", ()):
            why = saturated()
            if why:
                return 503, b"text/plain; charset=utf-8", ("not ready: %s\n" % (why,)).encode()
        return 200, b"text/plain; charset=utf-8", b"ready\n"

    def _json(self):
        return 200, b"application/json", json.dumps(self.status.snapshot()).encode()

    def _page(self):
        return 200, b"text/html; charset=utf-8", render_page(self.status.snapshot()).encode("utf-8")


class DirectoryOperatorResource(resource.Resource):
    """
    With C{--directory}: C{/metrics} (request and session counts by door,
    across the repositories, and per repository under a cap), C{/healthz}
    (the directory is there), C{/readyz}, and C{/status.json} and the
    status page C{/} grouped by repository
    (L{annexrelay.operator.status.DirectoryStatus}).

    @param directory: the L{annexrelay.directory.cores.Directory}.
    @param status: its L{annexrelay.operator.status.DirectoryStatus}.
    """

    def __init__(self, directory, registry, status):
        resource.Resource.__init__(self)
        self.directory = directory
        self.registry = registry
        self.status = status
        self.putChild(b"metrics", _Leaf(lambda: (200, CONTENT_TYPE_LATEST.encode(), generate_latest(self.registry))))
        self.putChild(b"healthz", _Leaf(self._healthz))
        self.putChild(b"readyz", _Leaf(self._readyz))
        self.putChild(b"status.json", _Leaf(lambda: (200, b"application/json", json.dumps(self.status.snapshot()).encode())))
        self.putChild(
            b"", _Leaf(lambda: (200, b"text/html; charset=utf-8", render_directory_page(self.status.snapshot()).encode("utf-8")))
        )

    def _healthz(self):
        root = self.directory.scanner.root
        if not os.path.isdir(root):
            return 503, b"text/plain; charset=utf-8", ("unhealthy: the directory %s is gone\n" % (root,)).encode()
        return 200, b"text/plain; charset=utf-8", b"ok\n"

    def _readyz(self):
        if self.directory.stopping:
            return 503, b"text/plain; charset=utf-8", b"not ready: shutting down\n"
        for saturated in self.directory.saturation:
            why = saturated()
            if why:
                return 503, b"text/plain; charset=utf-8", ("not ready: %s\n" % (why,)).encode()
        return 200, b"text/plain; charset=utf-8", b"ready\n"
