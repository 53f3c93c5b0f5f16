"""
git clone through annexrelay's annex+http listener against C{git
http-backend} behind lighttpd (Debian's C{lighttpd}, mod_cgi, as git's
manual sets it up), both serving the same bare git-annex repository of
C{--files} annexed files (10 000), on this machine, interleaved,
C{--repeat} times: medians and the ratio annexrelay/lighttpd, for
C{git clone --no-checkout} (the server's own share) and a full C{git
clone} (mostly the client writing the symlinks).  Then, in the clone made
through the door, C{git annex get} of C{--get} files (1000) of a few
bytes each, through annex+http found from C{/config} (target of issue 20:
clone within 1.2x lighttpd), and the same get through C{git annex
p2phttp -J8} serving the same repository, for comparison.

Without lighttpd installed (C{apt-get install lighttpd}) its column is
skipped, with a message.

The repository is made quickly, not with C{git annex add}: the keys are
computed here, the symlinks and the location log written by C{git
fast-import}, the objects put where git-annex keeps them.

Usage: ./dev bench clone [--files 10000] [--get 1000] [--repeat 3] [--keep]
"""

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from annexrelay.testing.lab import git_env, write_fake_ssh  # noqa: E402
from annexrelay.testing.ports import free_port, wait_listening  # noqa: E402

LIGHTTPD_CONF = """
server.modules = ("mod_alias", "mod_cgi", "mod_setenv")
server.document-root = "%(root)s"
server.bind = "127.0.0.1"
server.port = %(port)d
server.errorlog = "%(base)s/lighttpd.error.log"
server.pid-file = "%(base)s/lighttpd.pid"
alias.url = ( "/git" => "%(backend)s" )
$HTTP["url"] =~ "^/git" {
    cgi.assign = ( "" => "" )
    setenv.add-environment = ( "GIT_PROJECT_ROOT" => "%(root)s", "GIT_HTTP_EXPORT_ALL" => "1" )
}
"""


def git(cwd, *args, env, input=None):
    return subprocess.run(["git"] + list(args), cwd=cwd, env=env, input=input, stdout=subprocess.PIPE, check=True).stdout


def make_repository(path, files, env):
    """
    A bare git-annex repository at C{path} with C{files} annexed files
    (C{dNN/fNNNNN.txt}, a few bytes each), present in it.
    """
    git(os.path.dirname(path), "init", "-q", "--bare", path, env=env)
    git(path, "annex", "init", "-q", "served", env=env)
    uuid = git(path, "config", "annex.uuid", env=env).decode().strip()
    names, contents, keys = [], [], []
    for i in range(files):
        names.append("d%02d/f%05d.txt" % (i // 100, i))
        contents.append(b"file %d\n" % i)
        keys.append("SHA256E-s%d--%s.txt" % (len(contents[-1]), hashlib.sha256(contents[-1]).hexdigest()))
    out = git(path, "annex", "examinekey", "--batch", "--format=${hashdirmixed} ${hashdirlower}\n", env=env,
              input=("\n".join(keys) + "\n").encode()).decode().splitlines()
    stream = [b"commit refs/heads/main\ncommitter b <b@b> 1700000000 +0000\ndata 5\nfiles\n"]
    log = [b"commit refs/heads/git-annex\ncommitter b <b@b> 1700000000 +0000\ndata 9\nlocations\n",
           b"from refs/heads/git-annex^0\n"]
    for name, content, key, dirs in zip(names, contents, keys, out):
        mixed, lower = dirs.split(" ")
        obj = os.path.join(path, "annex", "objects", lower, key)
        os.makedirs(obj, exist_ok=True)
        with open(os.path.join(obj, key), "wb") as f:
            f.write(content)
        target = ("../.git/annex/objects/%s%s/%s" % (mixed, key, key)).encode()
        stream.append(b"M 120000 inline %s\ndata %d\n%s\n" % (name.encode(), len(target), target))
        line = ("1700000000s 1 %s\n" % (uuid,)).encode()
        log.append(b"M 100644 inline %s%s.log\ndata %d\n%s\n" % (lower.encode(), key.encode(), len(line), line))
    git(path, "fast-import", "--quiet", env=env, input=b"".join(stream) + b"\n" + b"".join(log))
    git(path, "symbolic-ref", "HEAD", "refs/heads/main", env=env)


class CloneBench:
    def __init__(self, base, args):
        self.base = base
        self.args = args
        bindir = os.path.join(base, "bin")
        write_fake_ssh(bindir)
        self.env = git_env(bindir)
        self.root = os.path.join(base, "srv")
        os.makedirs(self.root)
        self.repo = os.path.join(self.root, "data.git")
        t = time.monotonic()
        make_repository(self.repo, args.files, self.env)
        sys.stdout.write("made a repository of %d annexed files in %.1f s\n" % (args.files, time.monotonic() - t))
        self.procs = {}
        self.urls = {}
        self.startDoor()
        self.startLighttpd()

    def startDoor(self):
        port = free_port()
        log = open(os.path.join(self.base, "annexrelay.log"), "ab")
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        p = subprocess.Popen(
            [twistd, "-n", "--pidfile=", "annexrelay", "--repo", self.repo, "--listen", "unix:" + os.path.join(self.base, "d.sock"),
             "--p2phttp", "tcp:%d:interface=127.0.0.1" % (port,), "--wideopen"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.base,
        )
        self.procs["annexrelay"] = p
        wait_listening(port, p, 60)
        self.urls["annexrelay"] = "http://127.0.0.1:%d/" % (port,)

    def startLighttpd(self):
        lighttpd = shutil.which("lighttpd") or ("/usr/sbin/lighttpd" if os.path.exists("/usr/sbin/lighttpd") else None)
        backend = os.path.join(git(self.base, "--exec-path", env=self.env).decode().strip(), "git-http-backend")
        if lighttpd is None:
            sys.stdout.write("lighttpd is not installed (apt-get install lighttpd): its column is skipped\n")
            return
        port = free_port()
        conf = os.path.join(self.base, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(LIGHTTPD_CONF % {"root": self.root, "port": port, "base": self.base, "backend": backend})
        log = open(os.path.join(self.base, "lighttpd.log"), "ab")
        p = subprocess.Popen([lighttpd, "-D", "-f", conf], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs["lighttpd"] = p
        wait_listening(port, p, 60)
        self.urls["lighttpd"] = "http://127.0.0.1:%d/git/data.git" % (port,)

    def stop(self):
        for p in self.procs.values():
            p.terminate()
            p.wait()

    def clone(self, which, kind, n):
        dest = os.path.join(self.base, "clone-%s-%s-%d" % (which, kind, n))
        args = ["git", "clone", "-q"] + (["--no-checkout"] if kind == "no-checkout" else []) + [self.urls[which], dest]
        t = time.monotonic()
        subprocess.run(args, env=self.env, check=True)
        took = time.monotonic() - t
        count = len(git(dest, "ls-tree", "-r", "--name-only", "main", env=self.env).splitlines())
        assert count == self.args.files, count
        return took, dest

    def run(self):
        times = {}
        kept = None
        for n in range(self.args.repeat):
            for kind in ("no-checkout", "full"):
                for which in sorted(self.urls):
                    took, dest = self.clone(which, kind, n)
                    times.setdefault((which, kind), []).append(took)
                    if which == "annexrelay" and kind == "full" and kept is None:
                        kept = dest
                    else:
                        shutil.rmtree(dest)
        sys.stdout.write("\ngit clone of %d annexed files, median of %d (seconds)\n" % (self.args.files, self.args.repeat))
        sys.stdout.write("%-12s %10s %10s %8s\n" % ("", "annexrelay", "lighttpd", "ratio"))
        for kind in ("no-checkout", "full"):
            a = statistics.median(times[("annexrelay", kind)])
            row = "%-12s %10.3f" % (kind, a)
            if ("lighttpd", kind) in times:
                b = statistics.median(times[("lighttpd", kind)])
                row += " %10.3f %7.2fx" % (b, a / b)
            sys.stdout.write(row + "   (all: %s)\n" % (", ".join(
                "%s %s" % (w, " ".join("%.2f" % t for t in times[(w, kind)])) for w in sorted(self.urls) if (w, kind) in times),))
        self.get(kept)

    def get(self, clone):
        """
        C{git annex get} of C{--get} files in C{clone} (made through the
        door: annex+http found from /config), then in a copy of it whose
        annexUrl is C{git annex p2phttp}'s on the same repository.
        """
        git(clone, "config", "annex.security.allowed-ip-addresses", "127.0.0.1", env=self.env)
        git(clone, "annex", "init", "-q", "bench", env=self.env)
        other = clone + "-p2phttp"
        subprocess.run(["cp", "-a", clone, other], check=True)
        port = free_port()
        log = open(os.path.join(self.base, "p2phttp.log"), "ab")
        p2phttp = subprocess.Popen(["git-annex", "p2phttp", "-J8", "--wideopen", "--bind", "127.0.0.1", "--port", str(port)],
                                   cwd=self.repo, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs["p2phttp"] = p2phttp
        wait_listening(port, p2phttp, 60)
        dirs = ["d%02d" % i for i in range(self.args.get // 100)]
        took = {}
        for which, repo in (("annexrelay", clone), ("git annex p2phttp", other)):
            if which != "annexrelay":
                git(repo, "config", "remote.origin.annexurl", "annex+http://127.0.0.1:%d/git-annex/" % (port,), env=self.env)
            t = time.monotonic()
            subprocess.run(["git", "annex", "get", "-q"] + dirs, cwd=repo, env=self.env, check=True)
            took[which] = time.monotonic() - t
            with open(os.path.join(repo, "d00", "f00000.txt"), "rb") as f:
                assert f.read() == b"file 0\n"
        url = git(clone, "config", "remote.origin.annexurl", env=self.env).decode().strip()
        n = len(dirs) * 100
        sys.stdout.write("\ngit annex get of %d files after the clone (annexUrl %s, found from /config)\n" % (n, url))
        for which, t in took.items():
            sys.stdout.write("%-18s %7.2f s %7.1f files/s\n" % (which, t, n / t))
        sys.stdout.write("ratio annexrelay / git annex p2phttp: %.2fx\n" % (took["annexrelay"] / took["git annex p2phttp"],))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--get", type=int, default=1000, help="files to get after the clone (whole hundreds)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="annexrelay-clone-bench-")
    bench = None
    try:
        bench = CloneBench(base, args)
        bench.run()
    finally:
        if bench is not None:
            bench.stop()
        if args.keep:
            sys.stdout.write("kept %s\n" % (base,))
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
