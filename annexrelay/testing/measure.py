"""
What the benchmarks (C{bench/}) measure with: CPU seconds and peak RSS of
processes from C{/proc} (L{PeakRSS} follows one while it runs), a sampler that follows short-lived processes by
command line, the options every transfer benchmark takes, and
L{ThreeWay}: one client reaching the same content three ways, measured
interleaved.
"""

import os
import statistics
import subprocess
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """
    (user+system CPU seconds, peak RSS in KiB) of a live process.
    """
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        hwm = 0
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        return cpu, hwm
    except (OSError, IndexError, ValueError):
        return None


def status_kib(pid, field):
    """
    A field of C{/proc/PID/status} in KiB (C{VmRSS}, C{VmHWM}), 0 if absent.
    """
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class PeakRSS(threading.Thread):
    """
    The largest C{field} (KiB) of one process while it runs, sampled every
    0.2 s: C{VmHWM} (the kernel's own peak, so nothing between two
    samples is missed) or C{VmRSS}.
    """

    def __init__(self, pid, field="VmHWM"):
        threading.Thread.__init__(self, daemon=True)
        self.pid = pid
        self.field = field
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, status_kib(self.pid, self.field))
            except OSError:
                return
            self.stop.wait(0.2)


class Sampler(threading.Thread):
    """
    Watches /proc for processes whose command line contains all of
    C{needles}, remembering each one's last CPU and peak RSS.
    """

    def __init__(self, needles, exclude=()):
        threading.Thread.__init__(self, daemon=True)
        self.needles = [n.encode() for n in needles]
        self.exclude = [n.encode() for n in exclude]
        self.seen = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                pid = int(d)
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        cmd = f.read().replace(b"\0", b" ")
                except OSError:
                    continue
                if all(n in cmd for n in self.needles) and not any(x in cmd for x in self.exclude):
                    r = proc_cpu(pid)
                    if r is not None:
                        self.seen[pid] = r
            self.stop.wait(0.01)

    def result(self):
        self.stop.set()
        self.join()
        cpu = sum(c for c, _ in self.seen.values())
        rss = max([h for _, h in self.seen.values()] or [0])
        return cpu, rss


def fmt(v, unit):
    return "-" if v is None else ("%.2f%s" % (v, unit))


def scenario_arguments(ap, big_mib=512, small_count=1000, small_kib=4):
    """
    The options of a benchmark that moves one big object and many small
    files, C{repeat} times each.
    """
    ap.add_argument("--big-mib", type=int, default=big_mib)
    ap.add_argument("--small-count", type=int, default=small_count)
    ap.add_argument("--small-kib", type=int, default=small_kib)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each scenario; medians are shown")
    ap.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    ap.add_argument(
        "--local-store", action="store_true", help="bare nodes, and the daemon run with --local-store (it stores uploads into them itself)"
    )


class ThreeWay:
    """
    A client reaching content three ways, each run interleaved with the
    others so a noisy machine slows all three alike: (a) directly, (b)
    through git-annex's own proxy or gateway, (c) through annexrelay.

    @param setup: the L{annexrelay.testing.lab.Setup}.
    @param daemon: the annexrelay daemon's L{subprocess.Popen}.
    @param client: the client repository.
    @param targets: C{{"a"|"b"|"c": (remote name, shell the ssh stand-in runs)}}.
    """

    def __init__(self, setup, daemon, client, targets, args):
        self.s = setup
        self.daemon = daemon
        self.client = client
        self.targets = targets
        self.args = args
        self.peak = 0

    def run(self, argv, shell, check=True):
        env = dict(self.s.env, FAKE_SSH_SHELL=shell)
        p = subprocess.run(argv, cwd=self.client, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed:\n%s" % (" ".join(argv), p.stdout.decode(errors="replace")[-3000:]))
        return p

    def measure(self, which, argv):
        """
        C{(wall seconds, relay CPU seconds, relay peak RSS KiB)} of one run
        of C{argv} (C{REMOTE} in it names the remote) the C{which} way.
        """
        remote, shell = self.targets[which]
        argv = [a.replace("REMOTE", remote) for a in argv]
        sampler = before = None
        if which == "b":
            sampler = Sampler(["git-annex-shell", "p2pstdio", self.s.proxy, "--uuid"])
        elif which == "c":
            sampler = Sampler(["annexrelay-shell"])
            before = proc_cpu(self.daemon.pid)
        if sampler is not None:
            sampler.start()
        t0 = time.monotonic()
        self.run(argv, shell)
        wall = time.monotonic() - t0
        cpu = rss = None
        if sampler is not None:
            cpu, rss = sampler.result()
        if before is not None:
            after = proc_cpu(self.daemon.pid)
            cpu = (cpu or 0) + after[0] - before[0]
            rss = max(rss or 0, after[1])
        return wall, cpu, rss

    def scenario(self, name, paths, prepare, argv, verify=None):
        """
        Run C{argv} the three ways, interleaved, C{--repeat} times
        (C{prepare(which)} before each, C{verify(which)} after); keep the
        median of each measure, and under C{"ratios"} the medians of the
        ratios c/a and c/b taken round by round (a round's three runs meet
        the same load on a shared machine, so these drift less than the
        ratio of two medians).
        """
        runs = {w: [] for w in "abc"}
        for _ in range(self.args.repeat):
            for which in "abc":
                prepare(which)
                runs[which].append(self.measure(which, argv))
                if verify:
                    verify(which)
        results = {}
        for which, rs in runs.items():
            results[which] = tuple(statistics.median(v) if all(x is not None for x in v) else None for v in zip(*rs))
        results["ratios"] = tuple(
            statistics.median(c[0] / other[0] for c, other in zip(runs["c"], runs[w])) for w in "ab"
        )
        return name, results

    def make_files(self):
        """
        C{big.bin} (C{--big-mib}) and C{small/} (C{--small-count} files of
        C{--small-kib}), added to the client.
        """
        a = self.args
        with open(os.path.join(self.client, "big.bin"), "wb") as f:
            chunk = os.urandom(1 << 20)
            for i in range(a.big_mib):
                f.write(chunk[: (1 << 20) - 8] + i.to_bytes(8, "big"))
        os.makedirs(os.path.join(self.client, "small"), exist_ok=True)
        for i in range(a.small_count):
            with open(os.path.join(self.client, "small", "f%05d" % i), "wb") as f:
                f.write(os.urandom(a.small_kib * 1024))
        self.s.git("annex", "add", "-q", "big.bin", "small", cwd=self.client)
        self.s.git("commit", "-q", "-m", "bench files", cwd=self.client)

    def close(self):
        r = proc_cpu(self.daemon.pid)
        self.peak = r[1] if r else 0
        self.daemon.terminate()
        self.daemon.wait()
