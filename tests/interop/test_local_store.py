"""
C{--local-store} with the real git and git-annex: annexrelay receives an
upload to a bare node into the node's annex itself
(L{annexrelay.localnode}).  What it leaves there is compared with what the
node's git-annex-shell leaves for the same files (modes, content, the
node's own location log), git-annex's fsck and testremote judge the
result, and the ugly paths: a client killed mid-upload, content that does
not match its key, the transfer lock held by another session or by
git-annex on the node, nodes annexrelay must not write, a node moved
away, a drop; and the annex+http door to a node and to a bare repository
served by itself.
"""

import hashlib
import os
import re
import signal
import stat
import subprocess

from annexrelay.testing.gitrepos import restore_node
from annexrelay.testing.lab import Setup
from annexrelay.testing.ports import free_port, wait_listening
from tests.interop import test_testremote
from tests.interop.test_faults import RawSession, waitFor
from tests.interop.test_http import HttpCase
from tests.interop.test_interop import InteropCase

MiB = 1024 * 1024
_LOGLINE = re.compile(r"^\d+(\.\d+)?s ([01]) (\S+)$")


def entries(top):
    """
    The files under C{top} (not directories), relative to it.
    """
    out = []
    for root, _, files in os.walk(top):
        out += [os.path.relpath(os.path.join(root, f), top) for f in files]
    return sorted(out)


class LocalStoreCase(InteropCase):
    """
    Bare nodes, the daemon run with C{--local-store}.
    """

    bare = True
    nodes = 1
    daemonArgs = ("--local-store",)

    def node(self, name):
        return self.s.nodes[name]

    def examine(self, fmt, key):
        return self.s.git("annex", "examinekey", "--format=" + fmt, key, cwd=self.s.proxy).strip()

    def objectPath(self, node, key):
        """
        Where git-annex keeps C{key} in a bare node (C{examinekey}'s hash
        directory, not annexrelay's).
        """
        return os.path.join(self.node(node), "annex", "objects", self.examine("${hashdirlower}", key), key, key)

    def objectContent(self, node, key):
        with open(self.objectPath(node, key), "rb") as f:
            return f.read()

    def modes(self, node, key):
        """
        The permission bits of C{key}'s object file, its key directory and
        the two hash directories above.
        """
        path, out = self.objectPath(node, key), []
        for _ in range(4):
            out.append(oct(stat.S_IMODE(os.stat(path).st_mode)))
            path = os.path.dirname(path)
        return out

    def branchLog(self, repo, key):
        """
        The location log of C{key} committed to C{repo}'s own git-annex
        branch.
        """
        path = self.examine("${hashdirlower}${key}.log", key)
        return self.s.git("cat-file", "-p", "refs/heads/git-annex:" + path, cwd=repo, check=False).splitlines()

    def waitBranchLog(self, repo, key, lineEnd, timeout=30):
        """
        Wait (bounded) until C{repo}'s committed log of C{key} has a line
        ending in C{lineEnd}: the branch's content, not a delay.
        """
        waitFor(lambda: any(l.endswith(lineEnd) for l in self.branchLog(repo, key)),
                "%s's git-annex branch to log %r for %s\n%s" % (repo, lineEnd, key, self.daemonLog()), timeout)

    def normalLog(self, repo, key, uuid):
        """
        The committed log of C{key} with timestamps left out and C{uuid}
        written as C{U}.
        """
        out = []
        for line in self.branchLog(repo, key):
            m = _LOGLINE.match(line)
            self.assertIsNotNone(m, "not a location log line: %r" % (line,))
            out.append("%s %s" % (m.group(2), "U" if m.group(3) == uuid else m.group(3)))
        return out

    def status(self, repo, key, uuid):
        """
        What the committed log of C{key} says of C{uuid} now (the newest
        line: "1", "0"), or None.
        """
        newest = None
        for line in self.branchLog(repo, key):
            m = _LOGLINE.match(line)
            if m and m.group(3) == uuid:
                ts = float(line.split("s ", 1)[0])
                if newest is None or ts >= newest[0]:
                    newest = (ts, m.group(2))
        return newest and newest[1]

    def disagreements(self, node):
        """
        The keys whose committed log in the node's own branch does not say
        what its annex holds (once nothing is left to commit).
        """
        repo, u = self.node(node), self.uuids[node]
        out = []
        for name in self.s.git("ls-tree", "-r", "--name-only", "refs/heads/git-annex", cwd=repo).split():
            if name.count("/") != 2 or not name.endswith(".log"):
                continue
            key = name.rsplit("/", 1)[1][: -len(".log")]
            has = os.path.exists(os.path.join(repo, "annex", "objects", os.path.dirname(name), key, key))
            status = self.status(repo, key, u)
            if status is not None and (status == "1") != has:
                out.append((key, status, has))
        return out

    def fsck(self, repo, *args):
        """
        git-annex's fsck (with checksums) in C{repo}: all keys.
        """
        return self.annex("fsck", "--all", *args, cwd=repo)

    def leftovers(self, node):
        """
        What remains under the node's C{annex/tmp} and C{annex/transfer}.
        """
        annex = os.path.join(self.node(node), "annex")
        return entries(os.path.join(annex, "tmp")) + entries(os.path.join(annex, "transfer"))

    def storedItself(self, node):
        return "node %s: annexrelay stores into %s itself (--local-store)" % (node, os.path.realpath(self.node(node)))

    def recordedItself(self, node):
        """
        What the daemon logs when it commits to the node's own git-annex
        branch (only annexrelay's location log writer of the node does).
        """
        return " in %s's git-annex branch" % (os.path.realpath(self.node(node)),)

    def checkPresent(self, node, key):
        s = RawSession(self, self.uuids[node])
        s.say(b"CHECKPRESENT " + key.encode() + b"\n")
        answer = s.line()
        self.assertEqual(s.close(), 0)
        return answer


class DifferentialTests(LocalStoreCase):
    """
    The same files to n1 stored by annexrelay and to n2 by its
    git-annex-shell (the daemon restarted without C{--local-store}).
    """

    nodes = 2

    def addFiles(self):
        files = {
            "small.txt": b"a small file\n" * 20,
            "big.bin": os.urandom(3 * MiB + 5),
            "empty.txt": b"",
            "worm.txt": b"a WORM key: size only\n",
        }
        for name, content in files.items():
            with open(os.path.join(self.client, name), "wb") as f:
                f.write(content)
        self.s.git("annex", "add", "-q", "small.txt", "big.bin", "empty.txt", cwd=self.client)
        self.s.git("annex", "add", "-q", "--backend=WORM", "worm.txt", cwd=self.client)
        self.s.git("commit", "-q", "-m", "files", cwd=self.client)
        keys = {name: self.key(name) for name in files}
        self.assertTrue(keys["worm.txt"].startswith("WORM-"), keys)
        return files, keys

    def test_stores_as_git_annex_shell_does(self):
        files, keys = self.addFiles()
        names = sorted(files)
        u1, u2 = self.uuids["n1"], self.uuids["n2"]
        self.annex("copy", "--to", "origin-n1", *names)
        log = self.daemonLog()
        self.assertIn(self.storedItself("n1"), log)
        # annexrelay itself commits n1's log, within the commit delay.
        for k in keys.values():
            self.waitBranchLog(self.node("n1"), k, " 1 " + u1)
        self.assertIn(self.recordedItself("n1"), self.daemonLog())
        # Before any fsck: it would repair modes.
        ours = {k: self.modes("n1", k) for k in keys.values()}

        self.stopDaemon()
        self.daemonArgs = ()
        self.startDaemon()
        self.annex("copy", "--to", "origin-n2", *names)
        # The node's git-annex-shell commits its log when it exits.
        self.stopDaemon()
        for k in keys.values():
            self.waitBranchLog(self.node("n2"), k, " 1 " + u2)
        self.assertNotIn(self.storedItself("n2"), self.daemonLog())

        for name, k in keys.items():
            self.assertEqual(ours[k], self.modes("n2", k), name)
            self.assertEqual(self.objectContent("n1", k), files[name], name)
            self.assertEqual(self.objectContent("n2", k), files[name], name)
            self.assertEqual(self.normalLog(self.node("n1"), k, u1), ["1 U"], name)
            self.assertEqual(self.normalLog(self.node("n1"), k, u1), self.normalLog(self.node("n2"), k, u2), name)
        self.assertEqual(self.disagreements("n1"), [])
        self.assertEqual(self.disagreements("n2"), [])

        # The proxy's branch says the same; git-annex's fsck agrees.
        self.daemonArgs = ("--local-store",)
        self.startDaemon()
        other = self.s.makeClient("client2")
        self.annex("pull", "-q", "--no-content", "origin", cwd=other)
        for name, k in keys.items():
            out = self.annex("whereis", "--key", k, cwd=other)
            self.assertIn(u1, out, name)
            self.assertIn(u2, out, name)
        for node in ("n1", "n2"):
            out = self.fsck(self.node(node))
            self.assertEqual(out.count(" ok"), len(keys), out)
        self.assertEqual(ours, {k: self.modes("n1", k) for k in keys.values()})
        self.annex("fsck", "--from", "origin-n1", *names)


class TestRemoteLocalStoreTests(LocalStoreCase):
    timeout = 600
    runTestRemote = test_testremote.TestRemoteTests.runTestRemote

    def test_testremote(self):
        failed, out = self.runTestRemote("origin-n1")
        log = self.daemonLog()
        self.assertTrue(failed <= test_testremote.UNAVAILABLE, "failed: %s\n%s\n--- daemon log:\n%s" % (sorted(failed), out, log))
        self.assertIn(self.storedItself("n1"), log)
        self.assertIn(self.recordedItself("n1"), log)
        # The node's own log says what it holds, once everything is
        # committed (testremote stores and removes in quick succession).
        self.stopDaemon()
        self.assertEqual(self.disagreements("n1"), [])


class UglyPathTests(LocalStoreCase):
    """
    One bare node written by annexrelay, and what goes wrong around it.
    """

    def tmpSize(self, key):
        try:
            return os.path.getsize(os.path.join(self.node("n1"), "annex", "tmp", key))
        except OSError:
            return None

    def lockFile(self, key):
        return os.path.join(self.node("n1"), "annex", "transfer", "download", "lck", "lck." + key)

    def putOffsets(self, key):
        return [int(m.group(1)) for m in re.finditer(r"PUT %s to node n1 from offset (\d+):" % re.escape(key), self.daemonLog())]

    def test_killed_copy_resumes(self):
        """
        The client is killed in the middle of a large object: the partial
        object stays in the node's annex/tmp, the locks go, and the next
        copy resumes from it.
        """
        size = 64 * MiB
        content = os.urandom(size)
        self.s.addFile(self.client, "big.bin", content)
        k = self.key("big.bin")
        # annex.bwlimit keeps the upload slow enough to be caught halfway.
        p = subprocess.Popen(
            ["git", "-c", "annex.bwlimit=32MiB:1s", "annex", "copy", "--to", "origin-n1", "big.bin"],
            cwd=self.client, env=self.s.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.addCleanup(lambda: p.poll() is None and (os.killpg(p.pid, signal.SIGKILL), p.wait()))
        waitFor(lambda: (self.tmpSize(k) or 0) >= 2 * MiB, "the node's annex/tmp to grow")
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        # The daemon has seen the client go once it let go of the locks.
        waitFor(lambda: not os.path.exists(self.lockFile(k)), "the transfer lock to be released\n" + self.daemonLog())
        partial = self.tmpSize(k)
        self.assertTrue(2 * MiB <= partial < size, partial)
        self.assertFalse(os.path.exists(self.objectPath("n1", k)))

        self.annex("copy", "--to", "origin-n1", "big.bin")
        self.assertEqual(self.putOffsets(k), [0, partial])
        self.assertEqual(self.objectContent("n1", k), content)
        self.assertEqual(self.leftovers("n1"), [])
        self.fsck(self.node("n1"))

    def test_content_not_matching_its_key(self):
        """
        A PUT whose bytes are not the key's content fails, leaves nothing
        in the node, and the right bytes are stored afterwards.
        """
        right = b"the right content\n" * 100
        wrong = b"the wrong content\n" * 100
        key = ("SHA256E-s%d--%s.txt" % (len(right), hashlib.sha256(right).hexdigest())).encode()
        worm = b"WORM-s10-m1700000000--w.txt"
        s = RawSession(self, self.uuids["n1"])
        for k, payload in ((key, wrong), (worm, b"not ten")):
            s.say(b"PUT f " + k + b"\n")
            s.expect(b"PUT-FROM 0")
            s.say(b"DATA %d\n" % len(payload) + payload + b"VALID\n")
            s.expect(b"FAILURE")
            s.say(b"CHECKPRESENT " + k + b"\n")
            s.expect(b"FAILURE")
        self.assertEqual(entries(os.path.join(self.node("n1"), "annex", "objects")), [])
        self.assertEqual(self.leftovers("n1"), [])
        self.assertIn("content received for %s into node n1 does not match its key; deleted" % (key.decode(),), self.daemonLog())
        s.say(b"PUT f " + key + b"\n")
        s.expect(b"PUT-FROM 0")
        s.say(b"DATA %d\n" % len(right) + right + b"VALID\n")
        s.expect(b"SUCCESS")
        self.assertEqual(s.close(), 0)
        self.assertEqual(self.objectContent("n1", key.decode()), right)
        self.assertEqual(self.leftovers("n1"), [])
        self.fsck(self.node("n1"))

    def test_garbage_partial_object(self):
        """
        annex/tmp holds bytes that are not a start of the object: the
        resumed upload does not match the key and goes, and git-annex's
        retry stores the object from the start (as with git-annex-shell).
        """
        content = os.urandom(200000)
        self.s.addFile(self.client, "a.bin", content)
        k = self.key("a.bin")
        os.makedirs(os.path.join(self.node("n1"), "annex", "tmp"), exist_ok=True)
        with open(os.path.join(self.node("n1"), "annex", "tmp", k), "wb") as f:
            f.write(b"x" * 100000)
        self.annex("copy", "--to", "origin-n1", "a.bin")
        # (The second PUT, from 0 and small, is not logged on its own.)
        self.assertEqual(self.putOffsets(k), [100000])
        self.assertIn("content received for %s into node n1 does not match its key; deleted" % (k,), self.daemonLog())
        self.assertEqual(self.objectContent("n1", k), content)
        self.assertEqual(self.leftovers("n1"), [])

    def test_key_it_cannot_check(self):
        """
        A SKEIN key (hashlib cannot compute it as git-annex does) goes to
        the node's git-annex-shell, which journals the node's log (and
        commits it when it exits); annexrelay answers CHECKPRESENT.
        """
        self.stopDaemon()
        self.daemonArgs = ("--local-store", "--idle-timeout", "60")
        self.startDaemon()
        with open(os.path.join(self.client, "s.txt"), "wb") as f:
            f.write(b"a SKEIN key\n" * 1000)
        self.s.git("annex", "add", "-q", "--backend=SKEIN256E", "s.txt", cwd=self.client)
        self.s.git("commit", "-q", "-m", "s", cwd=self.client)
        k = self.key("s.txt")
        self.annex("copy", "--to", "origin-n1", "s.txt")
        journal = entries(os.path.join(self.node("n1"), "annex", "journal"))
        self.assertTrue(any(j.endswith(k + ".log") for j in journal), journal)
        self.assertEqual(self.checkPresent("n1", k), b"SUCCESS")
        self.annex("fsck", "--from", "origin-n1", "s.txt")
        self.stopDaemon()
        waitFor(lambda: self.status(self.node("n1"), k, self.uuids["n1"]) == "1", "the node's git-annex-shell to commit")
        self.fsck(self.node("n1"))

    def test_disk_reserve(self):
        """
        The node's annex.diskreserve cannot be kept: the upload is refused
        before any byte, the client is told why, nothing is left.
        """
        self.s.git("config", "annex.diskreserve", "1000000 terabytes", cwd=self.node("n1"))
        self.s.addFile(self.client, "a.txt", b"no room\n")
        out = self.annex("copy", "--to", "origin-n1", "a.txt", ok=False)
        self.assertIn("not enough free space in node n1", out)
        self.assertFalse(os.path.exists(self.objectPath("n1", self.key("a.txt"))))
        self.assertEqual(self.leftovers("n1"), [])

    def test_two_sessions_one_key(self):
        """
        Two sessions of the daemon upload the same key: the second is told
        the transfer is in progress (POSIX locks do not exclude within the
        daemon; its own set does); so is git-annex on the node (the
        daemon's locks are git-annex's).
        """
        content = os.urandom(300000)
        key = ("SHA256E-s%d--%s" % (len(content), hashlib.sha256(content).hexdigest())).encode()
        a = RawSession(self, self.uuids["n1"])
        a.say(b"PUT f " + key + b"\n")
        a.expect(b"PUT-FROM 0")
        a.say(b"DATA %d\n" % len(content) + content[:1000])
        b = RawSession(self, self.uuids["n1"])
        b.say(b"PUT f " + key + b"\n")
        b.expect(b"ERROR transfer already in progress, or unable to take transfer lock")
        theirs = subprocess.run(
            ["git-annex-shell", "p2pstdio", self.node("n1"), self.s.proxyUUID],
            input=b"VERSION 4\nPUT f " + key + b"\nDATA %d\n" % len(content) + content + b"VALID\n",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.s.env, timeout=60,
        )
        self.assertIn(b"transfer already in progress", theirs.stderr)
        self.assertNotIn(b"SUCCESS", theirs.stdout.splitlines())
        a.say(content[1000:] + b"VALID\n")
        a.expect(b"SUCCESS")
        b.say(b"PUT f " + key + b"\n")
        b.expect(b"ALREADY-HAVE")
        self.assertEqual(a.close(), 0)
        self.assertEqual(b.close(), 0)
        self.assertEqual(self.objectContent("n1", key.decode()), content)
        self.assertEqual(self.leftovers("n1"), [])

    def test_git_annex_holds_the_transfer_lock(self):
        """
        git-annex on the node is receiving the key (its own git-annex-shell,
        spoken to directly): the client's copy through the relay fails
        with git-annex's message, and once git-annex is gone, resumes from
        the partial object git-annex left.
        """
        content = os.urandom(200000)
        self.s.addFile(self.client, "a.bin", content)
        k = self.key("a.bin")
        half = len(content) // 2
        held = subprocess.Popen(
            ["git-annex-shell", "p2pstdio", self.node("n1"), self.s.proxyUUID],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.s.env,
        )
        self.addCleanup(lambda: held.poll() is None and (held.kill(), held.wait()))
        self.assertEqual(held.stdout.readline(), b"AUTH-SUCCESS %s\n" % (self.uuids["n1"].encode(),))
        held.stdin.write(b"VERSION 4\n")
        held.stdin.flush()
        self.assertEqual(held.stdout.readline(), b"VERSION 4\n")
        held.stdin.write(b"PUT f %s\n" % (k.encode(),))
        held.stdin.flush()
        self.assertEqual(held.stdout.readline(), b"PUT-FROM 0\n")
        held.stdin.write(b"DATA %d\n" % len(content) + content[:half])
        held.stdin.flush()
        # git-annex writes what it received in blocks: some of it is there.
        waitFor(lambda: (self.tmpSize(k) or 0) > 0, "git-annex's partial object")

        out = self.annex("copy", "--to", "origin-n1", "a.bin", ok=False)
        self.assertIn("transfer already in progress", out)
        self.assertFalse(os.path.exists(self.objectPath("n1", k)))

        held.stdin.close()
        held.wait(timeout=60)
        partial = self.tmpSize(k)
        self.assertTrue(0 < partial <= half, partial)
        self.annex("copy", "--to", "origin-n1", "a.bin")
        self.assertEqual(self.putOffsets(k), [partial])
        self.assertEqual(self.objectContent("n1", k), content)
        self.assertEqual(self.leftovers("n1"), [])
        self.fsck(self.node("n1"))

    def test_node_gone(self):
        """
        The node's repository is moved away after annexrelay chose to write
        it: requests get an error saying so (not "not present": fsck would
        record the content lost), nothing is made where it was, and once
        it is back, uploads go on.
        """
        self.s.addFile(self.client, "a.txt", b"stored before\n")
        self.s.addFile(self.client, "b.txt", b"stored after\n")
        ka, kb = self.key("a.txt"), self.key("b.txt")
        self.annex("copy", "--to", "origin-n1", "a.txt")
        self.waitBranchLog(self.node("n1"), ka, " 1 " + self.uuids["n1"])
        path = self.node("n1")
        os.rename(path, path + ".gone")
        try:
            gone = "cannot reach node n1 (%s): its repository is gone" % (os.path.realpath(path),)
            out = self.annex("copy", "--to", "origin-n1", "b.txt", ok=False)
            self.assertIn(gone, out)
            out = self.annex("fsck", "--fast", "--from", "origin-n1", "a.txt", ok=False)
            self.assertIn(gone, out)
            self.assertNotIn("fixing location log", out)
            s = RawSession(self, self.uuids["n1"])
            s.say(b"PUT f " + kb.encode() + b"\n")
            s.expect(b"ERROR " + gone.encode())
            self.assertEqual(s.close(), 0)
            self.assertFalse(os.path.exists(path))
        finally:
            restore_node(path)
        self.annex("copy", "--to", "origin-n1", "b.txt")
        self.assertEqual(self.objectContent("n1", kb), b"stored after\n")
        self.annex("fsck", "--fast", "--from", "origin-n1", "a.txt", "b.txt")
        self.fsck(path)

    def storedThenDropped(self, name, drop):
        """
        Store C{name} into n1 and C{drop(key)} it before the commit delay
        (30 s) has passed; once the daemon has stopped (committing), the
        node's own branch must say it lacks the key.

        @return: the key.
        """
        self.stopDaemon()
        self.daemonArgs = ("--local-store", "--commit-delay", "30", "--idle-timeout", "60")
        self.startDaemon()
        self.s.addFile(self.client, name, b"dropped at once: " + name.encode() + b"\n")
        k = self.key(name)
        self.annex("copy", "--to", "origin-n1", name)
        drop(k)
        self.assertFalse(os.path.exists(self.objectPath("n1", k)))
        self.stopDaemon()
        waitFor(lambda: self.status(self.node("n1"), k, self.uuids["n1"]) == "0", "the node's branch to say it lacks it")
        self.assertEqual(self.disagreements("n1"), [])
        return k

    def test_drop_right_after_store(self):
        """
        A drop through the relay before the commit delay has passed: the
        node's log ends saying it lacks the key (the store's record,
        still pending, must not be written after the drop's).
        """
        k = self.storedThenDropped("a.txt", lambda k: self.annex("drop", "--from", "origin-n1", "a.txt"))
        self.assertNotIn(self.uuids["n1"], self.annex("whereis", "--key", k, cwd=self.node("n1"), ok=False))

    def test_drop_on_the_node_right_after_store(self):
        """
        git-annex itself drops the key on the node before annexrelay's
        record of the store is committed: the drop, the later of the two,
        is what the node's log says.
        """
        self.storedThenDropped("b.txt", lambda k: self.annex("dropkey", "--force", k, cwd=self.node("n1")))

    def test_drop_then_store_again(self):
        """
        REMOVE goes to the node's git-annex-shell; annexrelay's CHECKPRESENT
        then says gone, and a copy stores the object again.
        """
        self.s.addFile(self.client, "a.txt", b"dropped and stored again\n")
        k = self.key("a.txt")
        self.annex("copy", "--to", "origin-n1", "a.txt")
        self.assertEqual(self.checkPresent("n1", k), b"SUCCESS")
        self.annex("drop", "--from", "origin-n1", "a.txt")
        self.assertFalse(os.path.exists(self.objectPath("n1", k)))
        self.assertEqual(self.checkPresent("n1", k), b"FAILURE")
        self.annex("fsck", "--fast", "--from", "origin-n1", "a.txt")
        self.annex("copy", "--to", "origin-n1", "a.txt")
        self.assertEqual(self.checkPresent("n1", k), b"SUCCESS")
        self.assertEqual(self.objectContent("n1", k), b"dropped and stored again\n")
        # The node's git-annex-shell locks it for the client's drop.
        self.annex("drop", "a.txt")
        # git-annex on the node (its branch and journal: the REMOVE its
        # git-annex-shell journalled) agrees once the commit delay passed,
        # and still after that git-annex-shell has exited.
        u1 = self.uuids["n1"]
        waitFor(lambda: u1 in self.annex("whereis", "--key", k, cwd=self.node("n1"), ok=None), "the node to know it has it")
        self.stopDaemon()
        waitFor(lambda: self.status(self.node("n1"), k, u1) == "1", "the node's branch to say it has it")
        self.assertEqual(entries(os.path.join(self.node("n1"), "annex", "journal")), [])
        self.assertIn(u1, self.annex("whereis", "--key", k, cwd=self.node("n1")))
        self.assertEqual(self.disagreements("n1"), [])
        self.fsck(self.node("n1"))


class NotWrittenTests(LocalStoreCase):
    """
    Nodes annexrelay must not write itself, with C{--local-store}: n1 is
    bare with C{core.sharedRepository=group}, n2 is not bare.  Their
    git-annex-shell stores, and the log says why.
    """

    def setUp(self):
        self.s = Setup(self.mktemp(), nodes=1, bare=True)
        self.s.git("config", "core.sharedRepository", "group", cwd=self.node("n1"))
        self.s.bare = False
        self.s.addNode("n2")
        self.s.git("annex", "updateproxy", "-q", cwd=self.s.proxy)
        self.uuids = {name: self.s.uuidOf(path) for name, path in self.s.nodes.items()}
        self.proc = None
        self.startDaemon()
        self.client = self.s.makeClient()

    def test_git_annex_shell_stores(self):
        self.s.addFile(self.client, "a.txt", b"stored by git-annex-shell\n")
        k = self.key("a.txt")
        for node in ("n1", "n2"):
            self.annex("copy", "--to", "origin-" + node, "a.txt")
        log = self.daemonLog()
        why = {"n1": "core.sharedRepository is set (group modes)", "n2": "it is not a bare repository"}
        for node in ("n1", "n2"):
            self.assertIn("node %s: its git-annex-shell stores into %s: %s" % (node, os.path.realpath(self.node(node)), why[node]), log)
            self.assertNotIn(self.storedItself(node), log)
            self.assertNotIn(self.recordedItself(node), log)
            self.assertTrue(self.nodeHas(node, k), node)
            self.fsck(self.node(node))


class BareRepositoryOverHttpTests(LocalStoreCase):
    """
    A bare repository served by itself (C{--repo}) through the annex+http
    door, with C{--local-store}: a client's upload to it is stored by
    annexrelay, recorded with the daemon's own location log writer.
    """

    def setUp(self):
        self.s = Setup(self.mktemp(), nodes=0)
        self.repo = os.path.join(self.s.base, "shared.git")
        self.s.git("init", "-q", "--bare", "-b", "main", self.repo, cwd=self.s.base)
        self.s.git("annex", "init", "-q", "shared", cwd=self.repo)
        self.uuid = self.s.uuidOf(self.repo)
        self.port = free_port()
        args = ["--commit-delay", "0.2", "--local-store", "--wideopen", "--p2phttp", "tcp:%d:interface=127.0.0.1" % (self.port,)]
        self.proc = self.s.startDaemon(args, repo=self.repo)
        self.addCleanup(self.stopDaemon)
        wait_listening(self.port, self.proc)
        self.client = self.s.makeClient(url=self.repo)
        self.s.git("config", "remote.origin.annexUrl", "annex+http://127.0.0.1:%d/git-annex/" % (self.port,), cwd=self.client)
        self.s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=self.client)

    def test_copy_to_the_repository(self):
        content = os.urandom(MiB + 3)
        self.s.addFile(self.client, "own.bin", content)
        k = self.key("own.bin")
        self.annex("copy", "--to", "origin", "own.bin")
        log = self.daemonLog()
        self.assertIn("annexrelay stores into %s itself (--local-store)" % (os.path.realpath(self.repo),), log)
        self.assertTrue([l for l in log.splitlines() if "frontdoor.http.door" in l and " put v4 " in l], log)
        path = os.path.join(self.repo, "annex", "objects", self.examine("${hashdirlower}", k), k, k)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), content)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode) & 0o222, 0)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) & 0o222, 0)
        self.waitBranchLog(self.repo, k, " 1 " + self.uuid)
        self.assertEqual(self.normalLog(self.repo, k, self.uuid), ["1 U"])
        self.assertEqual(entries(os.path.join(self.repo, "annex", "tmp")), [])
        self.assertEqual(entries(os.path.join(self.repo, "annex", "transfer")), [])
        self.fsck(self.repo)
        self.annex("fsck", "--from", "origin", "own.bin")


class ProxiedOverHttpTests(LocalStoreCase, HttpCase):
    """
    The annex+http door to a bare node annexrelay writes itself.
    """

    httpArgs = ("--wideopen", "--local-store")

    def test_copy_get(self):
        content = os.urandom(MiB + 7)
        self.s.addFile(self.client, "h.bin", content)
        k = self.key("h.bin")
        self.annex("copy", "--to", "origin-n1", "h.bin")
        self.assertTrue(self.httpRequests("put v4"), self.daemonLog())
        self.assertIn(self.storedItself("n1"), self.daemonLog())
        self.assertEqual(self.objectContent("n1", k), content)
        self.waitBranchLog(self.node("n1"), k, " 1 " + self.uuids["n1"])
        self.annex("drop", "h.bin")
        self.annex("get", "--from", "origin-n1", "h.bin")
        self.assertEqual(self.leftovers("n1"), [])
        self.fsck(self.node("n1"))
        self.assertCleanLog()
