"""
git's smart HTTP on the annex+http listener: C{git clone}, C{fetch},
C{pull} and C{push} of the repository (with C{--directory}, of each
repository under its path), and C{/config}, by which a git-annex client
of a plain clone finds annex+http by itself.

One request (a L{annexrelay.frontdoor.http.gitroutes.GitRoute}): the
caller's mode from the door's one C{authorize} (fetching and C{/config}
are C{read}, anything of C{git-receive-pack} is C{write}; 401 with the
challenge or 403, as on the annex side) → the repository (with
C{--directory}, a miss scans only for a caller let in; 404 when there is
none) → C{/config} answered here, or a turn from the door's admission and
C{git http-backend} run as a CGI
(L{annexrelay.frontdoor.http.gitbackend.Backend}) with the environment of
L{annexrelay.frontdoor.http.gitcgi.environ}: pushing enabled only for a
caller allowed to write.  The door logs one line per request, as for the
annex ones.
"""

import os
import shutil
import subprocess

from twisted.web.http import INTERNAL_SERVER_ERROR

from annexrelay.clientside import Mode
from annexrelay.frontdoor.http import gitcgi, gitroutes, routes, users
from annexrelay.frontdoor.http.gitbackend import Backend
from annexrelay.frontdoor.http.replies import Answer
from annexrelay.frontdoor.http.routes import Refusal


class _Nothing:
    """
    What a refused admission closes: a git request holds no session.
    """

    def close(self):
        pass


class GitSide:
    """
    The git requests of one door.

    @param door: the L{annexrelay.frontdoor.http.door.HttpFrontDoor}.
    @param environ: the daemon's environment (what of it a CGI run gets:
        L{gitcgi.KEPT}).
    @ivar publicUrl: C{--public-url} (checked), or None: C{/config}'s
        C{annex.url} is then built from the request's scheme and C{Host}.
    """

    def __init__(self, door, environ=None, publicUrl=None):
        self.door = door
        self.environ = dict(os.environ if environ is None else environ)
        self.backend = http_backend(self.environ)
        self.publicUrl = publicUrl

    async def handle(self, exchange):
        door = self.door
        request = exchange.request
        route = request.route
        exchange.target = b"/".join(route.scope) or b"/"
        credentials = routes.authorization(request.getHeader(b"authorization"))
        if isinstance(credentials, Refusal):
            await exchange.respond(Answer(credentials.status, credentials.body, json=False))
            return
        await door.access.prepare(request, credentials)
        if request.gone():
            # (Gone while its login waited.)
            return
        decide = lambda: door.authorize(request, route.actionClass, credentials, route.scope, None)  # noqa: E731
        repo = await self._repository(route.scope, lambda: not isinstance(decide(), users.Refused))
        mode = decide()
        if isinstance(mode, users.Refused):
            exchange.why = mode.why
            headers = [(b"WWW-Authenticate", users.CHALLENGE)] if mode.challenge else []
            await exchange.respond(Answer(mode.status, b"", json=False), headers)
            return
        if repo is None:
            await exchange.respond(Answer(404, b"", json=False))
            return
        if route.service == "config":
            answer = self._config(request, route, repo)
            exchange.bytes = len(answer.body)
            await exchange.respond(answer, [(b"Content-Type", b"text/plain; charset=utf-8")])
            return
        if self.backend is None:
            await exchange.respond(Answer(INTERNAL_SERVER_ERROR, b"git http-backend is not installed\n", json=False))
            return
        if not await door.admit(exchange, _Nothing()):
            return
        if request.gone():
            return
        backend = Backend(exchange, door.clock, door.limits.nodeTimeout, door.limits.bodyTimeout)
        exchange.link = backend
        env = self._environ(request, route, repo, credentials, mode)
        # (No working directory: Twisted then spawns with posix_spawn,
        # not fork; git finds the repository from GIT_PROJECT_ROOT.)
        door.reactor.spawnProcess(backend, self.backend, [self.backend], env=env)
        await backend.finished

    async def _repository(self, scope, allowed):
        """
        The repository at C{scope}, or None.
        """
        door = self.door
        if not door.scoped:
            return door.core.repository if not scope else None
        return await door.cores.repositoryAt(scope, allowed)

    def _config(self, request, route, repo):
        host = request.getHost()
        fallback = "%s:%s" % (host.host, host.port) if hasattr(host, "port") else "localhost"
        url = gitroutes.annex_url(request.isSecure(), request.getHeader(b"host"), fallback, route.scope, self.publicUrl)
        return Answer(200, gitroutes.format_config(repo.uuid, url, repo.path == repo.gitDir), json=False)

    def _environ(self, request, route, repo, credentials, mode):
        write = route.actionClass == "write"
        # Whoever the door's sign-on let in: a store, environment or
        # trusted-header user (git writes the name into reflogs).
        user = self.door.access.signedOn(request)
        peer = request.getClientAddress()
        return gitcgi.environ(
            self.environ,
            projectRoot=repo.path,
            pathInfo=route.pathInfo,
            method=request.verb,
            query=route.query,
            headers=list(_headers(request)),
            remoteAddr=str(getattr(peer, "host", "") or ""),
            remoteUser=user,
            config=gitcgi.run_config(write, mode is Mode.APPEND_ONLY),
            secure=request.isSecure(),
        )


def http_backend(environ):
    """
    C{git-http-backend} in git's exec path, run as itself (as a web
    server runs it: C{git http-backend} would be one more process
    between), or None when git or it is missing.
    """
    git = shutil.which("git", path=environ.get("PATH"))
    if git is None:
        return None
    try:
        out = subprocess.run([git, "--exec-path"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = os.path.join(out.decode("utf-8", "surrogateescape").strip(), "git-http-backend")
    return path if os.access(path, os.X_OK) else None


def _headers(request):
    for name, values in request.requestHeaders.getAllRawHeaders():
        for value in values:
            yield name, value
