"""
The two demos C{./dev demo} runs (L{annexrelay.demo} calls them): a cluster
of three nodes behind the daemon over ssh (L{cluster}), and a proxied
remote over a private Tor network on loopback (L{tor}).  They print what
they do for the person watching, step by step.
"""

import os
import subprocess
import sys
import tempfile

from annexrelay.testing.lab import Setup
from annexrelay.testing.onionnet import namespaces_usable, wait_for
from annexrelay.testing.tornet import TorNetwork, tor_usable

BIN = os.path.dirname(sys.executable)


def say(*parts):
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def run_step(s, client, step, ok=True):
    """
    Show and run C{git STEP} in C{client}.

    @return: whether it ended as expected (C{ok}: succeeded).
    """
    say("$ git " + " ".join(step))
    p = subprocess.run(["git"] + list(step), cwd=client, env=s.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    say(p.stdout.decode("utf-8", "replace").rstrip())
    if (p.returncode == 0) != ok:
        say("demo step %s (exit %d); see %s" % ("failed" if ok else "was not refused", p.returncode, s.base))
        return False
    return True


def log_lines(base, *marks, width=None):
    """
    Say the daemon's log lines (their text) that contain one of C{marks}.
    """
    with open(os.path.join(base, "annexrelay.log"), errors="replace") as f:
        for line in f:
            if any(m in line for m in marks):
                say("  " + line.split("] ", 1)[-1].rstrip()[:width])


def cluster():
    """
    The demo: a cluster of three nodes behind annexrelay, and a client that
    stores to it once, reads from it with a node gone, and drops from it.
    """
    base = tempfile.mkdtemp(prefix="annexrelay-demo-")
    say("Building a throw-away gateway repository with a cluster of three nodes in", base)
    s = Setup(base, nodes=3)
    s.makeCluster("c1", ["n1", "n2", "n3"])
    # n1 is the cheapest node, so the gateway reads from it first.
    s.git("config", "remote.n1.annex-cost", "50", cwd=s.proxy)
    daemon = s.startDaemon()
    say("annexrelay daemon running (pid %d), log: %s/annexrelay.log" % (daemon.pid, base))
    try:
        client = s.makeClient()
        s.addFile(client, "hello.txt", b"Hello through annexrelay\n")
        s.addFile(client, "photo.jpg", b"not really a photo\n")
        n1 = s.nodes["n1"]
        steps = [
            ("copy to the cluster: every node gets it", ("annex", "copy", "--to", "origin-c1", "hello.txt", "photo.jpg")),
            ("the client now knows where the copies are", ("annex", "whereis", "hello.txt")),
            ("drop the local copy (the cluster locks one of its copies as proof)", ("annex", "drop", "hello.txt")),
            ("node n1 disappears", None),
            ("get from the cluster anyway: annexrelay fails over", ("annex", "get", "--from", "origin-c1", "hello.txt")),
            ("node n1 is back", None),
            ("drop from the cluster: removed from every node", ("annex", "drop", "--from", "origin-c1", "photo.jpg")),
            ("", ("annex", "whereis", "photo.jpg")),
        ]
        for title, step in steps:
            if title:
                say("\n# " + title)
            if step is None:
                if "disappears" in title:
                    os.rename(n1, n1 + ".gone")
                else:
                    os.rename(n1 + ".gone", n1)
                continue
            if not run_step(s, client, step):
                return 1
    finally:
        daemon.terminate()
        daemon.wait()
    say("\nWhat the gateway did when n1 was gone (from its log):")
    log_lines(base, "skipping node", "trying the next node")
    say("\nThe gateway's own location log, written by annexrelay (git annex whereis in the gateway repository):")
    say(s.git("annex", "whereis", "--key", _key(s, client, "hello.txt"), cwd=s.proxy, check=False).rstrip())
    say("\nWhat the daemon logged is in %s/annexrelay.log. Everything is under %s" % (base, base))
    return 0


def _key(s, client, name):
    return s.git("annex", "lookupkey", name, cwd=client).strip()


def tor():
    if not tor_usable() or not namespaces_usable():
        say("the Tor demo needs tor (apt-get install tor) and root for a network namespace of its own")
        return 1
    base = tempfile.mkdtemp(prefix="annexrelay-tor-demo-")
    s = Setup(base, nodes=1)
    client = s.makeClient()
    say("== starting a private Tor network on loopback (3 authorities, 4 relays, 1 host/client tor)")
    net = TorNetwork(base, env=s.env)
    try:
        net.start()
        addr = subprocess.run(
            [os.path.join(BIN, "annexrelay"), "address", "--repo", s.proxy, "n1"], env=s.env, stdout=subprocess.PIPE, check=True
        ).stdout.decode().strip()
        say("== annexrelay address --repo proxy n1  ->", addr[:90] + "...")
        log = os.path.join(base, "annexrelay.log")
        p = net.net.spawn(
            [os.path.join(BIN, "twistd"), "-n", "--pidfile=", "annexrelay", "--repo", s.proxy, "--tor-control", "tcp:127.0.0.1:%d" % net.control],
            log, env=s.env,
        )
        wait_for(lambda: " published" in open(log).read(), "the onion to be published", timeout=120, proc=p)
        say("== onion service published through txtorcon")
        with open(os.path.join(client, "demo.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        for step, stdin in [
            (["annex", "p2p", "--link", "--name", "tn1"], addr + "\n"),
            (["annex", "add", "demo.bin"], None),
            (["commit", "-q", "-m", "demo"], None),
            (["annex", "copy", "--to", "tn1", "demo.bin"], None),
            (["annex", "drop", "demo.bin"], None),
            (["annex", "get", "--from", "tn1", "demo.bin"], None),
            (["annex", "drop", "--from", "tn1", "demo.bin"], None),
        ]:
            say("$ git", " ".join(step))
            r = net.net.run(["git"] + step, cwd=client, env=s.env, input=stdin.encode() if stdin else None,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            sys.stdout.write(r.stdout.decode("utf-8", "replace"))
            if r.returncode != 0:
                say("failed; daemon log:", log)
                return 1
        say("== done; everything went through the onion (state in %s)" % (base,))
        return 0
    finally:
        net.stop()


def http():
    """
    The annex+http demo: the daemon serves the repository over http, git
    and annex on one URL, as git annex p2phttp would with
    --unauth-readonly and one user from the environment.  Both clients
    start from a plain C{git clone http://...}: the user stores through
    it and pushes, an anonymous client reads, and its writes are refused.
    """
    from annexrelay.testing.ports import free_port

    base = tempfile.mkdtemp(prefix="annexrelay-http-demo-")
    say("Building a throw-away proxy repository with a cluster of two nodes in", base)
    s = Setup(base, nodes=2)
    s.makeCluster("c1", ["n1", "n2"])
    port = free_port()
    s.env["GIT_ANNEX_P2PHTTP_PASSWORD_alice"] = "demo-password"
    url = "http://127.0.0.1:%d/" % (port,)
    daemon = s.startDaemon(["--p2phttp", "tcp:%d:interface=127.0.0.1" % (port,), "--unauth-readonly", "--authenv-http"])
    say("annexrelay serving git and annex+http on %s (pid %d): --unauth-readonly --authenv-http, user alice" % (url, daemon.pid))
    try:
        creds = os.path.join(base, "alice-credentials")
        with open(creds, "w") as f:
            # git asks its credential helpers for the git URL, git-annex
            # for the annex+http URL it learnt from the clone URL's /config.
            f.write("http://alice:demo-password@127.0.0.1:%d\n" % (port,))
            f.write("annex+http://alice:demo-password@127.0.0.1:%d/git-annex\n" % (port,))
        os.chmod(creds, 0o600)
        alice, anon = os.path.join(base, "alice"), os.path.join(base, "anonymous")
        for client in (alice, anon):
            s.git("clone", "-q", url, client, cwd=base)
            s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=client)
            s.git("annex", "init", "-q", os.path.basename(client), cwd=client)
        s.git("config", "credential.helper", "store --file=" + creds, cwd=alice)
        s.addFile(alice, "hello.txt", b"Hello over annex+http\n")
        steps = [
            ("both clients: git clone %s (git-annex finds annex+http in its /config)" % (url,), anon, ("remote", "-v"), True),
            ("", anon, ("config", "remote.origin.annexurl"), True),
            ("alice (a user) copies to the cluster over annex+http", alice, ("annex", "copy", "--to", "origin-c1", "hello.txt"), True),
            ("and pushes over http", alice, ("push", "-q", "origin", "HEAD:refs/heads/alice", "git-annex:refs/heads/synced/git-annex"), True),
            ("the anonymous client fetches alice's work", anon, ("fetch", "-q", "origin"), True),
            ("", anon, ("merge", "-q", "--ff-only", "origin/alice"), True),
            ("", anon, ("annex", "merge"), True),
            ("and reads it over annex+http (read-only is allowed)", anon, ("annex", "get", "--from", "origin-c1", "hello.txt"), True),
            ("the anonymous client tries to write: refused (401; without a user name git-annex gives up)", anon, ("annex", "copy", "--to", "origin-c1", "mine.txt"), False),
            ("and to push: refused too", anon, ("push", "-q", "origin", "HEAD:refs/heads/anonymous"), False),
            ("where hello.txt is, as the anonymous client sees it", anon, ("annex", "whereis", "hello.txt"), True),
        ]
        for title, client, step, ok in steps:
            if "mine.txt" in step:
                s.addFile(anon, "mine.txt", b"an anonymous write\n")
            if title:
                say("\n# " + title)
            if not run_step(s, client, step, ok):
                return 1
    finally:
        daemon.terminate()
        daemon.wait()
    say("\nWhat the daemon logged of those requests:")
    log_lines(base, "frontdoor.http.door", width=160)
    say("\nEverything is under %s" % (base,))
    return 0
