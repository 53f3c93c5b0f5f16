"""
One big object through annexrelay's annex+http door: a put of N GiB to a
proxied remote, then its GET, while the daemon's resident memory is
sampled from /proc (VmRSS every 0.2 s, and VmHWM, the kernel's own peak).
Peak RSS must stay flat: the object streams through, never held.

The object has a WORM key, so the node stores it without hashing it (a
SHA256 key would make the node hash the whole object after the put, time
that is the node's, not the door's); the GET is checked against what was
sent (SHA-256 of both streams, computed here as the bytes go).

Usage: ./dev bench http-big [--gib 5] [--keep]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from annexrelay.testing import httpload  # noqa: E402
from annexrelay.testing.lab import Setup  # noqa: E402
from annexrelay.testing.measure import PeakRSS, status_kib  # noqa: E402
from annexrelay.testing.ports import free_port, wait_listening  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=5)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    size = int(args.gib * (1 << 30))
    base = tempfile.mkdtemp(prefix="annexrelay-http-big-")
    out = sys.stdout
    out.write("annexrelay annex+http big object benchmark in %s: %.2f GiB\n" % (base, size / (1 << 30)))
    s = Setup(base, nodes=1)
    port = free_port()
    proc = s.startDaemon(["--wideopen", "--p2phttp", "tcp:%d:interface=127.0.0.1" % (port,)])
    try:
        wait_listening(port, proc, 60)
        n1 = s.uuidOf(s.nodes["n1"])
        # Warm up (imports, the node connection), then the baseline.
        small = httpload.worm_key(1 << 20, "small.bin")
        httpload.stream_put(port, n1, small, 1 << 20, httpload.big_chunks(1 << 20))
        httpload.stream_get(port, n1, small)
        before = status_kib(proc.pid, "VmHWM")
        rss = PeakRSS(proc.pid, "VmRSS")
        rss.start()
        key = httpload.worm_key(size)
        t0 = time.monotonic()
        status, reply, sent = httpload.stream_put(port, n1, key, size, httpload.big_chunks(size))
        tput = time.monotonic() - t0
        if status != 200 or b'"stored":true' not in reply:
            raise SystemExit("put failed: %d %r" % (status, reply))
        afterPut = status_kib(proc.pid, "VmHWM")
        t0 = time.monotonic()
        status, count, got = httpload.stream_get(port, n1, key)
        tget = time.monotonic() - t0
        if (status, count, got) != (200, size, sent):
            raise SystemExit("get failed: %d, %d bytes, digest %s" % (status, count, "ok" if got == sent else "differs"))
        rss.stop.set()
        hwm = status_kib(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait()
    mib = size / (1 << 20)
    out.write("put  %8.1f s  %7.1f MiB/s\n" % (tput, mib / tput))
    out.write("get  %8.1f s  %7.1f MiB/s   (content checked)\n" % (tget, mib / tget))
    out.write("daemon peak RSS (VmHWM): %.1f MiB before, %.1f MiB after the put, %.1f MiB after the get; "
              "sampled VmRSS peak %.1f MiB\n" % (before / 1024, afterPut / 1024, hwm / 1024, rss.peak / 1024))
    if not args.keep:
        subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    main()
