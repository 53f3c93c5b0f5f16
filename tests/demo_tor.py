"""
C{./dev demo tor}: a private Tor network on loopback (L{tests.tornet}), the
daemon publishing a proxied remote's onion through it, and a client that
links with C{git annex p2p --link} and copies, gets and drops through Tor.
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from annexrelay.demo import Setup  # noqa: E402
from tests.onionnet import namespaces_usable, wait_for  # noqa: E402
from tests.tornet import TorNetwork, tor_usable  # noqa: E402

BIN = os.path.dirname(sys.executable)


def say(*parts):
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def main():
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


if __name__ == "__main__":
    sys.exit(main())
