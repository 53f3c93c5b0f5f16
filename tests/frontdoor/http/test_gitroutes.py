"""
git's requests on the annex+http listener and C{/config}, as pure
functions: which paths are git's, with which action class; the
C{annex.url} advertised; the config body (read back by git itself).
"""

import subprocess

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from annexrelay.frontdoor.http.gitroutes import GitRoute, annex_url, check_public_url, format_config, git_route
from annexrelay.frontdoor.http.routes import Refusal

U = b"7685e0b4-cd27-4131-be8d-398f641c7902"


class RouteTests(unittest.TestCase):
    def test_single_repository(self):
        up = b"service=git-upload-pack"
        self.assertEqual(git_route("GET", b"/info/refs", up, False), GitRoute("info/refs", (), up, "read"))
        rp = b"service=git-receive-pack"
        self.assertEqual(git_route("GET", b"/info/refs", rp, False).actionClass, "write")
        self.assertEqual(git_route("POST", b"/git-upload-pack", b"", False).actionClass, "read")
        self.assertEqual(git_route("POST", b"/git-receive-pack", b"", False).actionClass, "write")
        self.assertEqual(git_route("GET", b"/config", b"", False), GitRoute("config", (), b"", "read"))
        # git-annex asks the clone URL with its slash, then /config.
        self.assertEqual(git_route("GET", b"//config", b"", False).service, "config")
        self.assertEqual(git_route("HEAD", b"/config", b"", False).service, "config")

    def test_what_is_not_git(self):
        for verb, path in [("GET", b"/"), ("GET", b"/HEAD"), ("GET", b"/objects/info/packs"), ("GET", b"/info"),
                           ("GET", b"/git-annex/" + U + b"/v4/key/K"), ("GET", b"/lab/info/refs"),
                           ("POST", b"/git-upload-pack/x")]:
            self.assertIsNone(git_route(verb, path, b"", False), path)

    def test_wrong_method(self):
        self.assertEqual(git_route("GET", b"/git-receive-pack", b"", False), Refusal(405, b""))
        self.assertEqual(git_route("POST", b"/info/refs", b"", False), Refusal(405, b""))
        self.assertEqual(git_route("POST", b"/config", b"", False), Refusal(405, b""))

    def test_scoped(self):
        r = git_route("POST", b"/lab/dataset/git-upload-pack", b"", True)
        self.assertEqual(r.scope, (b"lab", b"dataset"))
        self.assertEqual(r.pathInfo, "/git-upload-pack")
        self.assertEqual(git_route("GET", b"/lab/my%20data/config", b"", True).scope, (b"lab", b"my data"))
        self.assertEqual(git_route("GET", b"/config", b"", True).scope, ())
        # Nothing leaves the directory, nor names a path with a slash in
        # one segment.
        for path in (b"/lab/../x/config", b"/./config", b"/lab/%2e%2e/config", b"/a%2Fb/config", b"/a%00/config"):
            self.assertIsNone(git_route("GET", path, b"", True), path)

    def test_log_names(self):
        self.assertEqual(git_route("GET", b"/info/refs", b"service=git-upload-pack", False).name, "git refs upload-pack")
        self.assertEqual(git_route("GET", b"/info/refs", b"", False).name, "git refs dumb")
        self.assertEqual(git_route("POST", b"/git-receive-pack", b"", False).name, "git receive-pack")

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(min_size=0, max_size=8), max_size=5), st.sampled_from(["GET", "POST", "HEAD", "PUT"]))
    def test_never_a_scope_outside(self, segments, verb):
        r = git_route(verb, b"/" + b"/".join(segments), b"", True)
        if isinstance(r, GitRoute):
            for s in r.scope:
                self.assertNotIn(s, (b"", b".", b".."))
                self.assertNotIn(b"/", s)


class AnnexUrlTests(unittest.TestCase):
    def test_from_the_request(self):
        self.assertEqual(annex_url(False, b"h.example:9417", "127.0.0.1:1", ()), "annex+http://h.example:9417/git-annex/")
        self.assertEqual(annex_url(True, b"h.example", "x", (b"lab", b"data set")), "annex+https://h.example/lab/data%20set/git-annex/")
        self.assertEqual(annex_url(False, b"[::1]:80", "x", ()), "annex+http://[::1]:80/git-annex/")

    def test_bad_host_is_not_copied(self):
        for host in (None, b"", b'a"b', b"a\\b", b"a b", b"a/b", b"a@b", b"-a", b"a:1:2"):
            self.assertEqual(annex_url(False, host, "127.0.0.1:9", ()), "annex+http://127.0.0.1:9/git-annex/", host)

    def test_public_url(self):
        public = check_public_url("https://annex.example.org/base/")
        self.assertEqual(public, "https://annex.example.org/base")
        self.assertEqual(annex_url(False, b"127.0.0.1", "x", (b"lab",), public), "annex+https://annex.example.org/base/lab/git-annex/")
        for bad in ("ftp://x/", "https:///x", "https://u:p@x/", "https://x/?q", "https://x/#f", 'https://x/"'):
            self.assertRaises(ValueError, check_public_url, bad)


class ConfigTests(unittest.TestCase):
    def test_exactly_three_keys(self):
        body = format_config(U, "annex+http://h:1/lab/git-annex/", True)
        self.assertEqual(body, b'[core]\n\tbare = true\n[annex]\n\tuuid = "%s"\n\turl = "annex+http://h:1/lab/git-annex/"\n' % (U,))

    def test_no_line_breaks(self):
        self.assertRaises(ValueError, format_config, U, "annex+http://h/\n[remote]", False)

    @settings(max_examples=30, deadline=None)
    @given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
    def test_git_reads_back_what_was_written(self, tail):
        url = "annex+http://h/" + tail
        body = format_config(U, url, False)
        out = subprocess.run(["git", "config", "--file", "-", "--null", "--list"], input=body, stdout=subprocess.PIPE, check=True).stdout
        entries = dict(e.split(b"\n", 1) for e in out.split(b"\0") if e)
        self.assertEqual(entries, {b"core.bare": b"false", b"annex.uuid": U, b"annex.url": url.encode("utf-8")})
