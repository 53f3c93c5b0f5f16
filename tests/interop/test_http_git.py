"""
git on the annex+http listener, with the real git and git-annex clients:
a plain C{git clone http://127.0.0.1:PORT/} (and C{/lab/dataset} with
C{--directory}, and over TLS) followed by C{git annex get .}, with no
client configuration but C{annex.security.allowed-ip-addresses}; C{git
push} and C{git annex copy --to origin} for a read-write user, both
refused for a read-only one; C{/config} and C{--public-url}; a client
killed mid-clone leaves no C{git http-backend} behind.
"""

import http.client
import os
import signal
import subprocess
import sys
import time

from annexrelay.testing.ports import free_port
from tests.interop.test_http import HttpCase
from tests.interop.test_http_directory import DirectoryCase

USERS = {"GIT_ANNEX_P2PHTTP_PASSWORD_alice": "alice-pw", "GIT_ANNEX_P2PHTTP_PASSWORD_bob": "bob-pw",
         "GIT_ANNEX_P2PHTTP_PERMISSIONS_bob": "readonly", "GIT_ANNEX_P2PHTTP_PASSWORD_carol": "carol-pw",
         "GIT_ANNEX_P2PHTTP_PERMISSIONS_carol": "appendonly"}


def descendants(pid):
    """
    The command lines of C{pid}'s descendant processes (from /proc).
    """
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                with open("/proc/%d/cmdline" % child, "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
    return out


class GitMixin:
    """
    Clients made by a plain C{git clone} over http(s).
    """

    def sh(self, *args, cwd=None, env=None, ok=True):
        e = dict(self.s.env, GIT_TERMINAL_PROMPT="0")
        e.update(env or {})
        p = subprocess.run(list(args), cwd=cwd or self.s.base, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
        out = p.stdout.decode("utf-8", "replace")
        if ok is not None and (p.returncode == 0) != ok:
            self.fail("%s exited %d:\n%s\n--- daemon log:\n%s" % (" ".join(args), p.returncode, out, self.daemonLog()))
        return out

    def clone(self, url, name, env=None):
        path = os.path.join(self.s.base, name)
        self.sh("git", "clone", "-q", url, path, env=env)
        self.s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=path)
        return path

    def served(self, path, files, bare=False):
        """
        A git-annex repository at C{path} holding C{files} ({name: bytes}),
        bare or not.
        """
        work = path + ".work" if bare else path
        self.s.git("init", "-q", "-b", "main", work, cwd=self.s.base)
        self.s.git("annex", "init", "-q", "served", cwd=work)
        for name, content in files.items():
            os.makedirs(os.path.dirname(os.path.join(work, name)), exist_ok=True)
            self.s.addFile(work, name, content)
        if bare:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.s.git("clone", "-q", "--bare", work, path, cwd=self.s.base)
            self.s.git("annex", "init", "-q", "dataset", cwd=path)
            self.s.git("remote", "add", "dataset", path, cwd=work)
            self.s.git("annex", "copy", "-q", "--to", "dataset", ".", cwd=work)
            self.s.git("annex", "fsck", "-q", cwd=path)
        return path

    def assertHolds(self, repo, files):
        for name, content in files.items():
            with open(os.path.join(repo, name), "rb") as f:
                self.assertEqual(f.read(), content)

    def getConfig(self, path="/config", host=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", path, headers={"Host": host} if host else {})
        r = c.getresponse()
        answer = r.status, r.read()
        c.close()
        return answer

    def parseConfig(self, body):
        out = self.s.git("config", "--file", "-", "--list", cwd=self.s.base, input=body)
        return dict(line.split("=", 1) for line in out.splitlines())

    def gitRequests(self, what):
        return [l for l in self.daemonLog().splitlines() if "frontdoor.http.door" in l and " %s " % (what,) in l]


FILES = {"a.txt": b"first file\n" * 100, "sub/b.bin": os.urandom(70000)}


class OneRepositoryTests(GitMixin, HttpCase):
    httpArgs = ("--unauth-readonly", "--authenv-http")

    def setUp(self):
        HttpCase.setUp(self)
        os.makedirs(os.path.join(self.s.proxy, "sub"), exist_ok=True)
        for name, content in FILES.items():
            self.s.addFile(self.s.proxy, name, content)
        self.url = "http://127.0.0.1:%d/" % (self.port,)

    def startDaemon(self):
        self.s.env.update(USERS)
        HttpCase.startDaemon(self)

    def test_clone_then_get(self):
        fresh = self.clone(self.url, "fresh")
        self.sh("git", "annex", "get", ".", cwd=fresh)
        self.assertHolds(fresh, FILES)
        self.assertEqual(self.s.git("config", "remote.origin.annexurl", cwd=fresh).strip(), "annex+http://127.0.0.1:%d/git-annex/" % (self.port,))
        self.assertTrue(self.gitRequests("git upload-pack"))
        self.assertTrue(self.gitRequests("git config"))
        self.assertCleanLog()

    def test_config_holds_only_what_the_client_reads(self):
        self.s.git("config", "remote.n1.annex-ssh-options", "-i /secret/key", cwd=self.s.proxy)
        self.s.git("config", "credential.helper", "store --file=/secret/creds", cwd=self.s.proxy)
        for path in ("/config", "//config"):
            status, body = self.getConfig(path)
            self.assertEqual(status, 200)
            self.assertEqual(self.parseConfig(body), {
                "core.bare": "false",
                "annex.uuid": self.s.proxyUUID,
                "annex.url": "annex+http://127.0.0.1:%d/git-annex/" % (self.port,),
            })
        self.assertNotIn(b"secret", body)
        self.assertNotIn(self.s.nodes["n1"].encode(), body)
        # The Host header names the URL; a bad one is not copied.
        status, body = self.getConfig(host="annex.example.org:8080")
        self.assertEqual(self.parseConfig(body)["annex.url"], "annex+http://annex.example.org:8080/git-annex/")
        status, body = self.getConfig(host='evil"\\host')
        self.assertEqual(self.parseConfig(body)["annex.url"], "annex+http://127.0.0.1:%d/git-annex/" % (self.port,))

    def test_gzip_request_body(self):
        """
        git gzips large upload-pack requests (Content-Encoding: gzip);
        git-http-backend inflates them, told by HTTP_CONTENT_ENCODING.
        """
        import gzip

        def pkt(b):
            return b"%04x" % (len(b) + 4) + b

        body = pkt(b"command=ls-refs\n") + b"0001" + pkt(b"ref-prefix refs/heads/\n") + b"0000"
        answers = []
        for encoding, data in ((None, body), ("gzip", gzip.compress(body))):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            headers = {"Content-Type": "application/x-git-upload-pack-request", "Git-Protocol": "version=2"}
            if encoding:
                headers["Content-Encoding"] = encoding
            c.request("POST", "/git-upload-pack", body=data, headers=headers)
            r = c.getresponse()
            answers.append((r.status, r.read()))
            c.close()
        head = self.s.git("rev-parse", "main", cwd=self.s.proxy).strip().encode()
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[0][0], 200)
        self.assertIn(head + b" refs/heads/main", answers[0][1])

    def test_push_and_copy_read_write_user_only(self):
        alice = self.clone("http://alice:alice-pw@127.0.0.1:%d/" % (self.port,), "alice")
        self.s.addFile(alice, "new.txt", b"from alice\n")
        self.sh("git", "push", "origin", "main:refs/heads/alice", cwd=alice)
        self.sh("git", "annex", "copy", "--to", "origin", "new.txt", cwd=alice)
        key = self.key("new.txt", client=alice)
        self.assertTrue(self.s.git("annex", "contentlocation", key, cwd=self.s.proxy, check=False).strip())
        head = self.s.git("rev-parse", "main", cwd=alice).strip()
        self.assertEqual(self.s.git("rev-parse", "refs/heads/alice", cwd=self.s.proxy).strip(), head)
        self.assertTrue(self.gitRequests("git receive-pack"))

        bob = self.clone("http://bob:bob-pw@127.0.0.1:%d/" % (self.port,), "bob")
        self.s.addFile(bob, "bob.txt", b"from bob\n")
        out = self.sh("git", "push", "origin", "main:refs/heads/bob", cwd=bob, ok=False)
        self.assertIn("403", out)
        self.assertFalse(self.s.git("rev-parse", "--verify", "-q", "refs/heads/bob", cwd=self.s.proxy, check=False).strip())
        out = self.sh("git", "annex", "copy", "--to", "origin", "bob.txt", cwd=bob, ok=False)
        self.assertIn("403", out)
        key = self.key("bob.txt", client=bob)
        self.assertFalse(self.s.git("annex", "contentlocation", key, cwd=self.s.proxy, check=False).strip())
        # Anonymous: may clone, is asked to sign on to push.
        anon = self.clone(self.url, "anon")
        self.s.addFile(anon, "anon.txt", b"anonymous\n")
        self.assertIn("could not read Username", self.sh("git", "push", "origin", "main:refs/heads/anon", cwd=anon, ok=False))
        self.assertTrue([l for l in self.gitRequests("git refs receive-pack") if "-> 401" in l])
        self.assertCleanLog()

    def test_append_only_user_adds_but_never_deletes_or_rewinds(self):
        carol = self.clone("http://carol:carol-pw@127.0.0.1:%d/" % (self.port,), "carol")
        self.s.addFile(carol, "c1.txt", b"one\n")
        self.sh("git", "push", "origin", "main:refs/heads/carol", cwd=carol)
        self.s.addFile(carol, "c2.txt", b"two\n")
        self.sh("git", "push", "origin", "main:refs/heads/carol", cwd=carol)
        head = self.s.git("rev-parse", "main", cwd=carol).strip()
        self.assertIn("deletion prohibited", self.sh("git", "push", "origin", ":refs/heads/carol", cwd=carol, ok=False))
        out = self.sh("git", "push", "--force", "origin", "main~2:refs/heads/carol", cwd=carol, ok=False)
        self.assertIn("non-fast-forward", out)
        self.assertEqual(self.s.git("rev-parse", "refs/heads/carol", cwd=self.s.proxy).strip(), head)

    def test_client_killed_mid_clone_leaves_no_backend(self):
        with open(os.path.join(self.s.proxy, "big.bin"), "wb") as f:
            f.write(os.urandom(48 << 20))
        self.s.git("-c", "annex.gitaddtoannex=false", "add", "big.bin", cwd=self.s.proxy)
        self.s.git("commit", "-q", "-m", "a big blob in git", cwd=self.s.proxy)
        target = os.path.join(self.s.base, "killed")
        p = subprocess.Popen(["git", "clone", "-q", self.url, target], env=self.s.env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Wait (bounded) for the clone's upload-pack; then stop the
            # client so the transfer is surely mid-way, and kill it.
            deadline = time.monotonic() + 60
            while not any("upload-pack" in c for c in descendants(self.proc.pid)):
                self.assertIsNone(p.poll(), "the clone ended before its upload-pack was seen")
                self.assertLess(time.monotonic(), deadline, self.daemonLog())
                time.sleep(0.02)
            os.killpg(p.pid, signal.SIGSTOP)
            os.killpg(p.pid, signal.SIGKILL)
        finally:
            p.wait()
        deadline = time.monotonic() + 30
        while descendants(self.proc.pid) and any("git" in c for c in descendants(self.proc.pid)):
            self.assertLess(time.monotonic(), deadline, descendants(self.proc.pid))
            time.sleep(0.05)
        self.assertEqual([c for c in descendants(self.proc.pid) if "http-backend" in c or "pack" in c], [])
        self.assertIn("git http-backend killed: the client went away", self.daemonLog())
        # And it still serves.
        self.clone(self.url, "after")
        self.assertCleanLog()


class PublicUrlTests(GitMixin, HttpCase):
    httpArgs = ("--wideopen", "--public-url", "https://annex.example.org/base/")

    def test_config_advertises_the_public_url(self):
        status, body = self.getConfig(host="127.0.0.1:1")
        self.assertEqual(status, 200)
        self.assertEqual(self.parseConfig(body)["annex.url"], "annex+https://annex.example.org/base/git-annex/")


class TlsTests(GitMixin, HttpCase):
    httpArgs = ("--unauth-readonly",)

    def endpoint(self):
        from tests.frontdoor.http.certs import self_signed

        key, self.cert = self_signed(self.mktemp())
        return "ssl:%d:interface=127.0.0.1:privateKey=%s:certKey=%s" % (self.port, key, self.cert)

    def test_clone_then_get_over_https(self):
        self.s.addFile(self.s.proxy, "tls.txt", b"over https\n" * 500)
        env = {"GIT_SSL_CAINFO": self.cert}
        fresh = self.clone("https://127.0.0.1:%d/" % (self.port,), "fresh", env=env)
        self.sh("git", "annex", "get", ".", cwd=fresh, env=env)
        self.assertHolds(fresh, {"tls.txt": b"over https\n" * 500})
        self.assertEqual(self.s.git("config", "remote.origin.annexurl", cwd=fresh).strip(), "annex+https://127.0.0.1:%d/git-annex/" % (self.port,))
        # Untrusted: refused.
        self.sh("git", "clone", "-q", "https://127.0.0.1:%d/" % (self.port,), os.path.join(self.s.base, "no"), ok=False)
        self.assertCleanLog()


class DirectoryTests(GitMixin, DirectoryCase):
    httpArgs = ("--unauth-readonly", "--authenv-http")

    def startDirectoryDaemon(self):
        self.s.env.update(USERS)
        self.dataset = self.served(os.path.join(self.root, "lab", "dataset"), FILES, bare=True)
        DirectoryCase.startDirectoryDaemon(self)

    def test_clone_get_push_copy(self):
        url = "http://127.0.0.1:%d/lab/dataset" % (self.port,)
        fresh = self.clone(url, "fresh")
        self.sh("git", "annex", "get", ".", cwd=fresh)
        self.assertHolds(fresh, FILES)
        self.assertEqual(self.s.git("config", "remote.origin.annexurl", cwd=fresh).strip(), "annex+http://127.0.0.1:%d/lab/dataset/git-annex/" % (self.port,))
        status, body = self.getConfig("/lab/dataset/config")
        self.assertEqual(self.parseConfig(body)["core.bare"], "true")
        self.assertEqual(self.getConfig("/lab/nothing/config")[0], 404)
        self.assertEqual(self.getConfig("/lab/../lab/dataset/config")[0], 404)

        alice = self.clone("http://alice:alice-pw@127.0.0.1:%d/lab/dataset" % (self.port,), "alice")
        self.s.addFile(alice, "new.txt", b"pushed by alice\n")
        # A pack over http.postBuffer (1 MiB): git sends it chunked.
        with open(os.path.join(alice, "big-in-git.bin"), "wb") as f:
            f.write(os.urandom(3 << 20))
        self.s.git("-c", "annex.gitaddtoannex=false", "add", "big-in-git.bin", cwd=alice)
        self.s.git("commit", "-q", "-m", "big", cwd=alice)
        self.sh("git", "push", "origin", "main", cwd=alice)
        self.sh("git", "annex", "copy", "--to", "origin", "new.txt", cwd=alice)
        self.assertEqual(self.s.git("rev-parse", "main", cwd=self.dataset).strip(), self.s.git("rev-parse", "main", cwd=alice).strip())
        key = self.key("new.txt", client=alice)
        self.assertTrue(self.s.git("annex", "contentlocation", key, cwd=self.dataset, check=False).strip())

        bob = self.clone("http://bob:bob-pw@127.0.0.1:%d/lab/dataset" % (self.port,), "bob")
        self.s.addFile(bob, "bob.txt", b"bob\n")
        self.assertIn("403", self.sh("git", "push", "origin", "main", cwd=bob, ok=False))
        self.assertIn("403", self.sh("git", "annex", "copy", "--to", "origin", "bob.txt", cwd=bob, ok=False))
        self.assertCleanLog()

    def test_store_users_grants_per_repository_apply_to_git(self):
        """
        annexrelay's own users (C{annexrelay user}): a read-only grant on
        the repository clones and is refused a push; granted read-write,
        the next push goes through, without a restart.
        """
        annexrelay = os.path.join(os.path.dirname(sys.executable), "annexrelay")

        def user(*args):
            p = subprocess.run([annexrelay, "user"] + list(args) + ["--directory", self.root], input="dave-pw\n",
                               env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            self.assertEqual(p.returncode, 0, p.stdout)

        user("add", "dave", "--password-stdin", "--repo", "lab/dataset", "--mode", "read-only")
        dave = self.clone("http://dave:dave-pw@127.0.0.1:%d/lab/dataset" % (self.port,), "dave")
        self.s.addFile(dave, "dave.txt", b"dave\n")
        self.assertIn("403", self.sh("git", "push", "origin", "main", cwd=dave, ok=False))
        self.assertTrue([l for l in self.gitRequests("git refs receive-pack") if "refused: dave" in l], self.daemonLog())
        user("grant", "dave", "--repo", "lab/dataset", "--mode", "read-write")
        self.sh("git", "push", "origin", "main", cwd=dave)
        self.sh("git", "annex", "copy", "--to", "origin", "dave.txt", cwd=dave)
        self.assertEqual(self.s.git("rev-parse", "main", cwd=self.dataset).strip(), self.s.git("rev-parse", "main", cwd=dave).strip())

