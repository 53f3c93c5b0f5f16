"""
A private Tor network on loopback, for the real-Tor tier (recipe:
shared/spec/tor-testnet.md): three directory authorities, four relays,
then one tor that hosts onion services (ControlPort 9151) and is the
clients' SOCKS port (127.0.0.1:9050).  Everything runs inside the test's
own network namespace (L{annexrelay.testing.onionnet.OnionNet}), on fixed ports; where
none can be made, on the machine's loopback with free ports (but 9050,
which git-annex's client needs).  No relay is an exit and every tor knows
only the loopback authorities.
"""

import os
import shutil
import subprocess
import time

from annexrelay.testing.onionnet import OnionNet, wait_for
from annexrelay.testing.ports import free_port

SOCKS = 9050


def tor_usable():
    return shutil.which("tor") is not None and shutil.which("tor-gencert") is not None


_COMMON = """TestingTorNetwork 1
DataDirectory {dir}
PidFile {dir}/pid
Nickname {nick}
Log notice file {dir}/notice.log
SafeLogging 0
ShutdownWaitLength 0
AssumeReachable 1
PathsNeededToBuildCircuits 0.25
TestingDirAuthVoteExit *
TestingDirAuthVoteGuard *
TestingMinExitFlagThreshold 0
V3AuthNIntervalsValid 2
ClientUseIPv6 0
__OwningControllerProcess {owner}
{authorities}
"""

_RELAY = """SocksPort 0
Address 127.0.0.1
ORPort 127.0.0.1:{orport}
ExitRelay 0
ExitPolicy reject *:*
"""

_AUTHORITY = """DirPort 127.0.0.1:{dirport}
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
TestingDirAuthVoteHSDir {hsdirs}
TestingDirAuthVoteHSDirIsStrict 1
TestingV3AuthInitialVotingInterval 5
TestingV3AuthInitialVoteDelay 2
TestingV3AuthInitialDistDelay 2
V3AuthVotingInterval 10
V3AuthVoteDelay 2
V3AuthDistDelay 2
AuthDirVoteStableGuaranteeMinUptime 0
AuthDirVoteStableGuaranteeMTBF 0
V3BandwidthsFile {bwfile}
"""


class TorNetwork:
    """
    @param base: a directory for the tors' state and logs.
    """

    def __init__(self, base, env=None):
        self.base = os.path.join(base, "tornet")
        os.makedirs(self.base, exist_ok=True)
        self.env = env
        self.net = OnionNet(base, ["sleep", "100000"], env=env)
        self.isolated = bool(self.net.prefix)
        self.control = 9151 if self.isolated else free_port()
        self.authorities = []
        self.relays = []

    def _port(self, fixed):
        return fixed if self.isolated else free_port()

    def _dir(self, nick):
        d = os.path.join(self.base, nick)
        os.makedirs(d, mode=0o700, exist_ok=True)
        return d

    def _fingerprint(self, nick):
        out = subprocess.run(
            ["tor", "--ignore-missing-torrc", "-f", "/dev/null", "--defaults-torrc", "/dev/null", "--quiet",
             "--list-fingerprint", "--orport", "1", "--nickname", nick, "--datadirectory", self._dir(nick)],
            stdout=subprocess.PIPE, check=True,
        ).stdout.decode().strip().splitlines()[-1]
        return "".join(out.split()[1:])

    def start(self):
        nicks = ["a1", "a2", "a3"]
        for i, nick in enumerate(nicks):
            d = self._dir(nick)
            keys = os.path.join(d, "keys")
            os.makedirs(keys, mode=0o700, exist_ok=True)
            dirport = self._port(7100 + i)
            subprocess.run(
                ["tor-gencert", "--create-identity-key", "--passphrase-fd", "0", "-i", keys + "/authority_identity_key",
                 "-s", keys + "/authority_signing_key", "-c", keys + "/authority_certificate", "-m", "12",
                 "-a", "127.0.0.1:%d" % dirport],
                input=b"\n", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=d,
            )
            with open(keys + "/authority_certificate") as f:
                v3 = [l.split()[1] for l in f if l.startswith("fingerprint ")][0]
            self.authorities.append((nick, self._port(7000 + i), dirport, v3, self._fingerprint(nick)))
        for i in range(4):
            nick = "r%d" % (i + 1)
            self.relays.append((nick, self._port(7200 + i), self._fingerprint(nick)))
        lines = "\n".join(
            "DirAuthority %s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s" % (n, orp, v3, dp, fp)
            for n, orp, dp, v3, fp in self.authorities
        )
        bwfile = os.path.join(self.base, "bandwidth")
        with open(bwfile, "w") as f:
            f.write("%d\n" % int(time.time()))
            for fp in [a[4] for a in self.authorities] + [r[2] for r in self.relays]:
                f.write("node_id=$%s bw=1000\n" % fp)
        self.dirAuthorities = lines
        hsdirs = ",".join(a[4] for a in self.authorities)
        for nick, orport, dirport, _, _ in self.authorities:
            self._start(nick, _RELAY.format(orport=orport) + _AUTHORITY.format(dirport=dirport, hsdirs=hsdirs, bwfile=bwfile))
        for nick, orport, _ in self.relays:
            self._start(nick, _RELAY.format(orport=orport) + "DirCache 0\nDirPort 0\n")
        wait_for(self._consensusReady, "a consensus listing every relay", timeout=90, log=self._logs)
        self._start(
            "host",
            "SocksPort 127.0.0.1:%d\nControlPort 127.0.0.1:%d\nCookieAuthentication 1\n" % (SOCKS, self.control),
        )
        wait_for(lambda: "Bootstrapped 100%" in self._log("host"), "the host tor to bootstrap", timeout=90, log=self._logs)

    def wrapper(self, path):
        """
        Write a tor for C{--tor-binary}: the real one with this network's
        options added, so a tor that txtorcon launches joins it.
        """
        args = ["--TestingTorNetwork", "1", "--ClientUseIPv6", "0", "--PathsNeededToBuildCircuits", "0.25"]
        for line in self.dirAuthorities.splitlines():
            args += ["--DirAuthority", line.split(" ", 1)[1]]
        with open(path, "w") as f:
            f.write('#!/bin/sh\nexec tor "$@" %s\n' % " ".join("'%s'" % a for a in args))
        os.chmod(path, 0o755)
        return path

    def _start(self, nick, extra):
        d = self._dir(nick)
        torrc = os.path.join(d, "torrc")
        with open(torrc, "w") as f:
            f.write(_COMMON.format(dir=d, nick=nick, owner=os.getpid(), authorities=self.dirAuthorities) + extra)
        self.net.spawn(["tor", "-f", torrc, "--defaults-torrc", "/dev/null"], os.path.join(d, "stdout.log"), env=self.env)

    def _log(self, nick):
        try:
            with open(os.path.join(self.base, nick, "notice.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _logs(self):
        return "\n".join("--- %s\n%s" % (n, self._log(n)[-1500:]) for n in ["a1", "r1", "host"])

    def _consensusReady(self):
        want = {"Running", "Valid", "Stable", "Fast"}
        for nick, _, _, _, _ in self.authorities:
            try:
                with open(os.path.join(self.base, nick, "cached-microdesc-consensus")) as f:
                    text = f.read()
            except OSError:
                return False
            flags = {}
            current = None
            for line in text.splitlines():
                if line.startswith("r "):
                    current = line.split()[1]
                elif line.startswith("s ") and current:
                    flags[current] = set(line.split()[1:])
            for n in [a[0] for a in self.authorities] + [r[0] for r in self.relays]:
                if not want <= flags.get(n, set()):
                    return False
        return True

    def stop(self):
        self.net.stop()
