"""
What the benchmarks (C{bench/}) measure with: CPU seconds and peak RSS of
processes from C{/proc}, a sampler that follows short-lived processes by
command line, and the options every transfer benchmark takes.
"""

import os
import threading

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
