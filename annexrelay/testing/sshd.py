"""
A real OpenSSH server on 127.0.0.1 for the tests, started by them: its own
host key, an C{authorized_keys} with annexrelay-shell as the forced command
(a read-write key and a read-only one), and a key for the daemon to reach
nodes over ssh.  C{ssh} on the tests' C{PATH} becomes the real client with
a config naming the hosts:

 - C{proxyhost}: the read-write key (forced command annexrelay-shell);
 - C{proxyro}: the read-only key (C{GIT_ANNEX_SHELL_READONLY=1});
 - C{nodehost}: no key in the config; a node remote gives one in its
   C{annex-ssh-options}.
"""

import os
import shutil
import socket
import subprocess
import sys
import time

from annexrelay.testing.ports import free_port

SSHD = "/usr/sbin/sshd"


def available():
    """
    None if a test sshd can run here, else why not.
    """
    if not os.path.exists(SSHD) or shutil.which("ssh") is None and not os.path.exists("/usr/bin/ssh"):
        return "OpenSSH is not installed (.ci/run installs openssh-server)"
    if os.geteuid() != 0:
        return "sshd must start as root here"
    return None


def _keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    with open(path + ".pub") as f:
        return f.read().strip()


class Sshd:
    """
    @param base: a directory for its files.
    @param bindir: the directory at the front of the tests' C{PATH}, where
        the C{ssh} wrapper goes.
    """

    def __init__(self, base, bindir):
        self.base = os.path.abspath(base)
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o700)
        venv = os.path.dirname(sys.executable)
        self.port = free_port()
        hostKey = os.path.join(self.base, "host_key")
        _keygen(hostKey)
        self.keys = {}
        for name in ("rw", "ro", "node"):
            self.keys[name] = os.path.join(self.base, name)
            _keygen(self.keys[name])
        shell = os.path.join(venv, "annexrelay-shell")
        path = "PATH=%s:/usr/local/bin:/usr/bin:/bin" % (venv,)
        forced = {
            "rw": '%s %s -c \\"$SSH_ORIGINAL_COMMAND\\"' % (path, shell),
            "ro": 'GIT_ANNEX_SHELL_READONLY=1 %s %s -c \\"$SSH_ORIGINAL_COMMAND\\"' % (path, shell),
            # The daemon reaching a node: the node's own git-annex-shell.
            "node": '%s; eval \\"$SSH_ORIGINAL_COMMAND\\"' % (path,),
        }
        self.authorizedKeys = os.path.join(self.base, "authorized_keys")
        with open(self.authorizedKeys, "w") as f:
            for name, command in forced.items():
                with open(self.keys[name] + ".pub") as pub:
                    f.write('command="%s",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty %s\n' % (command, pub.read().strip()))
        config = os.path.join(self.base, "sshd_config")
        with open(config, "w") as f:
            f.write(
                "Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\n"
                "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin prohibit-password\nLogLevel VERBOSE\nMaxStartups 100\nMaxSessions 100\n"
                % (self.port, hostKey, os.path.join(self.base, "sshd.pid"), self.authorizedKeys)
            )
        os.makedirs("/run/sshd", exist_ok=True)
        self.log = os.path.join(self.base, "sshd.log")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stderr=open(self.log, "wb"))
        self._waitListening()
        self.clientConfig = os.path.join(self.base, "ssh_config")
        common = "  HostName 127.0.0.1\n  Port %d\n  User root\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  IdentitiesOnly yes\n" % (self.port,)
        with open(self.clientConfig, "w") as f:
            f.write("Host proxyhost\n" + common + "  IdentityFile %s\n" % self.keys["rw"])
            f.write("Host proxyro\n" + common + "  IdentityFile %s\n" % self.keys["ro"])
            f.write("Host nodehost\n" + common)
        wrapper = os.path.join(bindir, "ssh")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' % (self.clientConfig,))
        os.chmod(wrapper, 0o755)

    def _waitListening(self):
        # Waiting for the port to accept connections, bounded.
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                with open(self.log, errors="replace") as f:
                    raise RuntimeError("sshd exited: " + f.read()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("sshd did not start listening")
                time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
