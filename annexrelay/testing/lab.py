"""
Throw-away git-annex setups: a proxy repository with nodes, and a client
that reaches it through an ssh stand-in.  Used by the demo, the benchmarks
and the interoperability tests; nothing here is needed to run the relay.

The ssh stand-in ignores the host and runs the remote command locally the
way an sshd forced command would: C{SHELL -c "$SSH_ORIGINAL_COMMAND"}, with
SHELL being annexrelay-shell (or git-annex-shell, to compare).
"""

import os
import subprocess
import sys
import time

from annexrelay.paths import default_socket

FAKE_SSH = r'''#!%(python)s
# ssh stand-in: runs the command locally like an sshd forced command.
import os, sys
args = sys.argv[1:]
with_arg = set("BbcDEeFIiJLlmOopQRSWw")
i = 0
host = None
null_stdin = False
while i < len(args):
    a = args[i]
    if a.startswith("-") and len(a) > 1:
        if a[1] in with_arg:
            i += 2 if len(a) == 2 else 1
            continue
        if "n" in a[1:]:
            null_stdin = True
        i += 1
        continue
    if host is None:
        host = a
        i += 1
        continue
    break
cmd = " ".join(args[i:])
if cmd.strip() in ("", "true"):
    sys.exit(0)
if null_stdin:
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
os.environ["SSH_ORIGINAL_COMMAND"] = cmd
shell = os.environ.get("FAKE_SSH_SHELL", "annexrelay-shell")
cut = int(os.environ.get("FAKE_SSH_CUT_AFTER", "0") or 0)
if not cut or not cmd.startswith("git-annex-shell 'p2pstdio'"):
    os.execvp(shell, [shell, "-c", cmd])
# A network that breaks: pass at most `cut` bytes of the session's output,
# then drop the connection.
import signal, subprocess
child = subprocess.Popen([shell, "-c", cmd], stdout=subprocess.PIPE, start_new_session=True)
passed = 0
while passed < cut:
    chunk = os.read(child.stdout.fileno(), min(65536, cut - passed))
    if not chunk:
        break
    os.write(1, chunk)
    passed += len(chunk)
os.killpg(child.pid, signal.SIGKILL)
sys.exit(255)
'''


def git_env(bindir, extra=None):
    """
    An environment where C{ssh} is the stand-in and git can commit.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([bindir, os.path.dirname(sys.executable), env.get("PATH", "")])
    env.update(
        GIT_AUTHOR_NAME="annexrelay",
        GIT_AUTHOR_EMAIL="annexrelay@localhost",
        GIT_COMMITTER_NAME="annexrelay",
        GIT_COMMITTER_EMAIL="annexrelay@localhost",
        GIT_CONFIG_NOSYSTEM="1",
    )
    for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_ANNEX_SHELL_READONLY", "GIT_ANNEX_SHELL_APPENDONLY"):
        env.pop(k, None)
    if extra:
        env.update(extra)
    return env


def write_fake_ssh(bindir):
    os.makedirs(bindir, exist_ok=True)
    path = os.path.join(bindir, "ssh")
    with open(path, "w") as f:
        f.write(FAKE_SSH % {"python": sys.executable})
    os.chmod(path, 0o755)
    return path


class Setup:
    """
    A proxy repository C{proxy} with nodes C{n1..nN} on local paths
    (bare repositories with C{bare=True}), and helpers to make clients of
    it.
    """

    def __init__(self, base, nodes=2, env=None, bare=None):
        # ANNEXRELAY_TEST_LOCAL_STORE=1: bare nodes and every daemon run
        # with --local-store (the interop suite with it on).
        self.localStore = os.environ.get("ANNEXRELAY_TEST_LOCAL_STORE") == "1"
        self.bare = self.localStore if bare is None else bare
        self.base = os.path.abspath(base)
        os.makedirs(self.base, exist_ok=True)
        self.bindir = os.path.join(self.base, "bin")
        write_fake_ssh(self.bindir)
        self.env = git_env(self.bindir, env)
        self.proxy = os.path.join(self.base, "proxy")
        self.nodes = {}
        self.git("init", "-q", "-b", "main", self.proxy, cwd=self.base)
        self.git("annex", "init", "-q", "proxy", cwd=self.proxy)
        for i in range(1, nodes + 1):
            self.addNode("n%d" % i)
        self.git("annex", "updateproxy", "-q", cwd=self.proxy)
        self.proxyUUID = self.git("config", "annex.uuid", cwd=self.proxy).strip()

    def addNode(self, name, proxied=True):
        path = os.path.join(self.base, name)
        self.git("init", "-q", "-b", "main", *(["--bare"] if self.bare else []), path, cwd=self.base)
        self.git("annex", "init", "-q", name, cwd=path)
        self.git("remote", "add", name, path, cwd=self.proxy)
        self.git("fetch", "-q", name, cwd=self.proxy)
        if proxied:
            self.git("config", "remote.%s.annex-proxy" % name, "true", cwd=self.proxy)
        self.nodes[name] = path
        return path

    def makeCluster(self, name, nodes):
        """
        Make the proxy a gateway for cluster C{name} of C{nodes}, as a user
        would: C{initcluster}, C{annex-cluster-node}, C{updatecluster}.

        @return: the cluster UUID.
        """
        self.git("annex", "initcluster", name, cwd=self.proxy)
        for node in nodes:
            self.git("config", "remote.%s.annex-proxy" % node, "false", cwd=self.proxy)
            self.git("config", "remote.%s.annex-cluster-node" % node, name, cwd=self.proxy)
        self.git("annex", "updatecluster", cwd=self.proxy)
        return self.git("config", "annex.cluster." + name, cwd=self.proxy).strip()

    def gitDirOf(self, name):
        """
        The git directory of node C{name} (the node itself when bare).
        """
        path = self.nodes[name]
        return path if self.bare else os.path.join(path, ".git")

    def uuidOf(self, repo):
        return self.git("config", "annex.uuid", cwd=repo).strip()

    def git(self, *args, cwd, env=None, check=True, input=None):
        e = self.env if env is None else env
        p = subprocess.run(
            ["git"] + list(args),
            cwd=cwd,
            env=e,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            input=input,
        )
        if check and p.returncode != 0:
            raise RuntimeError(
                "git %s failed (%d):\n%s\n%s"
                % (" ".join(args), p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))
            )
        return p.stdout.decode("utf-8", "replace")

    def makeClient(self, name="client", url=None):
        """
        Clone the proxy over the ssh stand-in and initialise git-annex, so
        the proxied remotes show up as C{origin-n1}, ...
        """
        path = os.path.join(self.base, name)
        url = url or "localhost:" + self.proxy
        self.git("clone", "-q", url, path, cwd=self.base)
        self.git("annex", "init", "-q", name, cwd=path)
        return path

    def addFile(self, client, name, content):
        with open(os.path.join(client, name), "wb") as f:
            f.write(content)
        self.git("annex", "add", "-q", name, cwd=client)
        self.git("commit", "-q", "-m", "add " + name, cwd=client)

    def startDaemon(self, extra=(), logfile=None, repo=None):
        """
        Start C{twistd -n annexrelay} for the proxy (or C{repo}) and wait
        for its socket.

        @return: the L{subprocess.Popen}.
        """
        repo = repo or self.proxy
        sock = default_socket(repo)
        if os.path.exists(sock):
            os.unlink(sock)
        log = open(logfile or os.path.join(self.base, "annexrelay.log"), "ab")
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        p = subprocess.Popen(
            [twistd, "-n", "--pidfile=", "annexrelay", "--repo", repo] + list(extra) + (["--local-store"] if self.localStore else []),
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.base,
        )
        log.close()
        # Waiting on a file's appearance, bounded; not a timing assumption.
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if p.poll() is not None:
                raise RuntimeError("annexrelay exited with %s; see %s" % (p.returncode, self.base))
            if time.monotonic() > deadline:
                p.kill()
                raise RuntimeError("annexrelay did not start")
            time.sleep(0.02)
        return p
