"""
A small reverse proxy for tests, as a forge or nginx sits in front of the
annex+http door's unix socket: it listens on a TCP endpoint and passes
every request, its path and query unchanged, to the unix socket
(C{twisted.web.proxy}; the request body is buffered by twisted.web, which
is fine for a test, not for production).

    python -m annexrelay.testing.revproxy LISTEN-ENDPOINT SOCKET-PATH
"""

import sys

from twisted.web import proxy, resource, server


class UnixReverseProxy(resource.Resource):
    """
    Every request, whatever its path, goes to the unix socket at C{path}.
    """

    isLeaf = True

    def __init__(self, reactor, path):
        resource.Resource.__init__(self)
        self.reactor = reactor
        self.socketPath = path

    def render(self, request):
        request.requestHeaders.setRawHeaders(b"host", [b"localhost"])
        request.content.seek(0, 0)
        body = request.content.read()
        # Hop-by-hop headers stay here; the body goes on whole, with its
        # length.
        headers = {
            k: v for k, v in request.getAllHeaders().items() if k.lower() not in (b"transfer-encoding", b"connection", b"keep-alive")
        }
        if body or request.method in (b"POST", b"PUT"):
            headers[b"content-length"] = b"%d" % (len(body),)
        factory = proxy.ProxyClientFactory(request.method, request.uri, request.clientproto, headers, body, request)
        self.reactor.connectUNIX(self.socketPath, factory)
        return server.NOT_DONE_YET


def main(argv):
    from twisted.internet import endpoints, reactor

    listen, path = argv[1:3]
    site = server.Site(UnixReverseProxy(reactor, path))
    endpoints.serverFromString(reactor, listen).listen(site)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
