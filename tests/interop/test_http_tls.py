"""
annex+https with the real client: an ssl: listener with a self-signed
certificate the client trusts through C{GIT_SSL_CAINFO} (the one place
git-annex's HTTP client takes it from), and a user let in over https with
--authenv while anonymous clients may only read.
"""

import os

from tests.interop.test_http import HttpCase


class RealClientOverTlsTests(HttpCase):
    httpArgs = ("--authenv", "--unauth-readonly")

    def endpoint(self):
        from tests.frontdoor.http.certs import self_signed

        key, self.cert = self_signed(self.mktemp())
        self.s.env["GIT_ANNEX_P2PHTTP_PASSWORD_alice"] = "tls-secret"
        return "ssl:%d:interface=127.0.0.1:privateKey=%s:certKey=%s" % (self.port, key, self.cert)

    def useHttp(self, client):
        url = "annex+https://127.0.0.1:%d/git-annex/" % (self.port,)
        self.s.git("config", "remote.origin.annexUrl", url, cwd=client)
        self.s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=client)

    def asAlice(self, client):
        creds = os.path.abspath(self.mktemp())
        with open(creds, "w") as f:
            f.write("annex+https://alice:tls-secret@127.0.0.1:%d/git-annex\n" % (self.port,))
        self.s.git("config", "credential.helper", "store --file=" + creds, cwd=client)

    def test_copy_get_drop_over_https(self):
        env = {"GIT_SSL_CAINFO": self.cert}
        self.asAlice(self.client)
        self.s.addFile(self.client, "tls.txt", b"over https\n" * 3000)
        k = self.key("tls.txt")
        self.annex("copy", "--to", "origin-n1", "tls.txt", env=env)
        self.assertTrue(self.nodeHas("n1", k))
        self.annex("drop", "tls.txt", env=env)
        self.annex("get", "--from", "origin-n1", "tls.txt", env=env)
        # An anonymous client reads, and may not write.
        other = self.s.makeClient("anonymous")
        self.useHttp(other)
        self.s.git("fetch", "-q", "origin", cwd=other)
        self.annex("get", "--from", "origin-n1", "--key", k, cwd=other, env=env)
        self.s.addFile(other, "anon.txt", b"anonymous\n")
        self.annex("copy", "--to", "origin-n1", "anon.txt", cwd=other, env=dict(env, GIT_TERMINAL_PROMPT="0"), ok=False)
        self.annex("drop", "--from", "origin-n1", "tls.txt", env=env)
        self.assertFalse(self.nodeHas("n1", k))
        self.assertCleanLog()

    def test_untrusted_certificate_is_refused(self):
        self.s.addFile(self.client, "no.txt", b"not without trust\n")
        out = self.annex("copy", "--to", "origin-n1", "no.txt", ok=False)
        self.assertRegex(out.lower(), r"certificate|tls|ssl")
