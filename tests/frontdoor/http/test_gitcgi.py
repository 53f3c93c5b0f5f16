"""
The CGI side of C{git http-backend} as pure functions: the head of its
output (examples, and any head split anywhere parses the same), and the
environment a run gets.
"""

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from annexrelay.frontdoor.http.gitcgi import HEAD_LIMIT, BadHead, Head, environ, parse_head, run_config


class HeadTests(unittest.TestCase):
    def test_git_http_backend_heads(self):
        out = b"Expires: Fri, 01 Jan 1980 00:00:00 GMT\r\nPragma: no-cache\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n\r\n001e# service"
        head = parse_head(out)
        self.assertEqual(head.status, 200)
        self.assertIsNone(head.reason)
        self.assertEqual(head.headers[2], (b"Content-Type", b"application/x-git-upload-pack-advertisement"))
        self.assertEqual(out[head.size:], b"001e# service")
        head = parse_head(b"Status: 403 Forbidden\nContent-Type: text/plain\n\nno")
        self.assertEqual((head.status, head.reason, head.headers), (403, b"Forbidden", [(b"Content-Type", b"text/plain")]))
        self.assertEqual(parse_head(b"Location: /x\n\n"), Head(302, None, [(b"Location", b"/x")], 14))
        # Mixed line ends.
        self.assertEqual(parse_head(b"A: 1\r\nB: 2\n\nbody").headers, [(b"A", b"1"), (b"B", b"2")])

    def test_incomplete(self):
        for partial in (b"", b"Status: 200", b"A: b\r\n", b"A: b\r\n\r"):
            self.assertIsNone(parse_head(partial))

    def test_hop_by_hop_headers_dropped(self):
        head = parse_head(b"Transfer-Encoding: chunked\nConnection: close\nX: y\n\n")
        self.assertEqual(head.headers, [(b"X", b"y")])

    def test_bad(self):
        for bad in (b"\n\n", b"\r\n\r\n", b"not a header\n\n", b"Status: 99 x\n\n", b"Status: abc\n\n", b" folded: x\n\n",
                    b"X" * (HEAD_LIMIT + 1), b"A: " + b"x" * HEAD_LIMIT + b"\n\n"):
            self.assertRaises(BadHead, parse_head, bad)

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.tuples(st.from_regex(rb"[A-Za-z0-9][A-Za-z0-9-]{0,15}", fullmatch=True),
                           st.binary(max_size=30).filter(lambda v: b"\n" not in v and b"\r" not in v)), max_size=6),
        st.one_of(st.none(), st.integers(100, 599)),
        st.sampled_from([b"\n", b"\r\n"]),
        st.binary(max_size=50),
        st.data(),
    )
    def test_fed_in_pieces_parses_as_whole(self, headers, status, eol, body, data):
        headers = [(n, v) for n, v in headers if n.lower() != b"status"]
        lines = ([b"Status: %d Why" % status] if status else []) + [n + b": " + v for n, v in headers]
        if not lines:
            lines = [b"X: 1"]
        out = eol.join(lines) + eol + eol + body
        whole = parse_head(out)
        self.assertEqual(out[whole.size:], body)
        if status:
            self.assertEqual(whole.status, status)
        cut = data.draw(st.integers(0, len(out)))
        head = parse_head(out[:cut])
        self.assertTrue(head is None or head == whole)


class EnvironTests(unittest.TestCase):
    def env(self, headers=(), user=None, config=None, base=None):
        return environ(
            base if base is not None else {"PATH": "/bin", "HOME": "/h", "GIT_ANNEX_P2PHTTP_PASSWORD_alice": "pw", "SECRET": "x"},
            projectRoot="/srv/repo", pathInfo="/git-upload-pack", method="POST", query=b"", headers=list(headers),
            remoteAddr="127.0.0.1", remoteUser=user, config=config if config is not None else run_config(False),
        )

    def test_cgi_variables(self):
        env = self.env([(b"Content-Type", b"application/x-git-upload-pack-request"), (b"Content-Length", b"12"),
                        (b"Content-Encoding", b"gzip"), (b"Git-Protocol", b"version=2"), (b"User-Agent", b"git/2.39")])
        self.assertEqual(env["GIT_PROJECT_ROOT"], "/srv/repo")
        self.assertEqual(env["PATH_INFO"], "/git-upload-pack")
        self.assertEqual(env["REQUEST_METHOD"], "POST")
        self.assertEqual(env["GIT_HTTP_EXPORT_ALL"], "1")
        self.assertEqual(env["CONTENT_TYPE"], b"application/x-git-upload-pack-request")
        self.assertEqual(env["CONTENT_LENGTH"], b"12")
        self.assertEqual(env["HTTP_CONTENT_ENCODING"], b"gzip")
        self.assertEqual(env["HTTP_GIT_PROTOCOL"], b"version=2")
        self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
        self.assertNotIn("REMOTE_USER", env)
        self.assertEqual(self.env(user="alice")["REMOTE_USER"], "alice")

    def test_nothing_private_passes(self):
        env = self.env([(b"Authorization", b"Basic YWxpY2U6cHc="), (b"Proxy", b"http://evil/"), (b"Bad Name", b"x"),
                        (b"X-Nul", b"a\0b"), (b"Content-Length", b"12; rm")])
        self.assertEqual(env["PATH"], "/bin")
        self.assertEqual(env["HOME"], "/h")
        for name in ("HTTP_AUTHORIZATION", "HTTP_PROXY", "SECRET", "GIT_ANNEX_P2PHTTP_PASSWORD_alice", "HTTP_X_NUL", "CONTENT_LENGTH"):
            self.assertNotIn(name, env)
        self.assertFalse([k for k in env if "Bad" in k or " " in k])

    def test_chunked_body_has_no_length(self):
        self.assertNotIn("CONTENT_LENGTH", self.env([(b"Transfer-Encoding", b"chunked")]))

    def test_push_only_when_allowed(self):
        def config(env):
            n = int(env["GIT_CONFIG_COUNT"])
            return {env["GIT_CONFIG_KEY_%d" % i]: env["GIT_CONFIG_VALUE_%d" % i] for i in range(n)}

        self.assertEqual(config(self.env(config=run_config(False)))["http.receivepack"], "false")
        self.assertEqual(config(self.env(config=run_config(True)))["http.receivepack"], "true")
        self.assertNotIn("receive.denyDeletes", config(self.env(config=run_config(True))))
        appendOnly = config(self.env(config=run_config(True, appendOnly=True)))
        self.assertEqual((appendOnly["receive.denyDeletes"], appendOnly["receive.denyNonFastForwards"]), ("true", "true"))
