"""
C{annexrelay status --repo P}: what the running daemon serves, as a
terminal table: targets and nodes (reachable or not, and why; how full),
transfers in flight, the last errors.  It asks the daemon over the
repository's socket (the one C{annexrelay-shell} hands sessions over), so
it works without C{--metrics}.  C{annexrelay status --url URL} asks a
daemon's C{--metrics} listener instead (its C{/status.json}): the only
way for a C{--directory} daemon, which has no such socket; its tables are
grouped by repository.
"""

import json
import os
import socket
import sys
import urllib.error
import urllib.request

from annexrelay.operator.page import duration, human
from annexrelay.paths import default_socket, find_repository


class NoDaemon(Exception):
    """
    No daemon answers for the repository.
    """


def ask(repo):
    """
    The daemon's snapshot for the repository at C{repo}.

    @raise NoDaemon: saying why.
    """
    path = default_socket(repo)
    if not os.path.exists(path):
        raise NoDaemon("no annexrelay daemon serves %s (no socket at %s)" % (repo, path))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        here = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            s.connect("/proc/self/fd/%d/%s" % (here, os.path.basename(path)))
        finally:
            os.close(here)
        s.sendall(json.dumps({"command": "status"}).encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        raise NoDaemon("no annexrelay daemon answers on %s: %s" % (path, e))
    finally:
        s.close()
    line = data.split(b"\n", 1)[0]
    if not line.startswith(b"STATUS "):
        raise NoDaemon("the daemon on %s answered %r" % (path, line[:200]))
    return json.loads(line[len(b"STATUS "):])


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(out)


def _state(n):
    if n["reachable"] is None:
        return "not contacted yet"
    return "reachable" if n["reachable"] else "UNREACHABLE: " + n["why"][:120]


def _fill(n):
    if n["maxsize"]:
        return "%s of %s (%d%%)" % (human(n["size"] or 0), human(n["maxsize"]), 100 * (n["size"] or 0) // n["maxsize"])
    return human(n["size"]) if n["size"] is not None else "?"


def render(snap):
    lines = ["annexrelay %s serving %s, up %s%s" % (
        snap["version"], snap["repository"], duration(snap["uptime"]), " (stopping)" if snap["stopping"] else "")]
    names = {}
    rows = _rows(snap["targets"], names)
    lines += ["", table(rows, ["NODE", "KIND", "STATE", "OPEN/IDLE", "STORED"]) if rows else "nothing proxied"]
    transfers = [[x["door"], x["operation"], names.get(x["target"], x["target"]), x["key"][:60], _progress(x)]
                 for x in snap["transfers"]]
    lines += ["", "transfers in flight: %d" % len(transfers)]
    if transfers:
        lines.append(table(transfers, ["DOOR", "REQUEST", "TARGET", "KEY", "PROGRESS"]))
    if snap["errors"]:
        lines += ["", "last errors:"] + ["  %s %s %s" % (e["time"], e["level"], e["text"][:200]) for e in snap["errors"][-10:]]
    return "\n".join(lines) + "\n"


def ask_url(url):
    """
    The snapshot a daemon's C{--metrics} listener at C{url} serves.

    @raise NoDaemon: saying why.
    """
    where = url.rstrip("/") + "/status.json"
    try:
        with urllib.request.urlopen(where, timeout=30) as r:
            return json.loads(r.read())
    except (OSError, ValueError, urllib.error.URLError) as e:
        raise NoDaemon("no annexrelay daemon answers at %s: %s" % (where, getattr(e, "reason", e)))


def _rows(targets, names):
    rows = []
    for t in targets:
        names[t["uuid"]] = t["name"]
        if t["kind"] == "cluster":
            for n in t["nodes"]:
                rows.append([n["name"], "node of " + t["name"], _state(n), "%d/%d" % (n["open"], n["idle"]), _fill(n)])
        else:
            rows.append([t["name"], t["kind"], _state(t), "%d/%d" % (t["open"], t["idle"]), _fill(t)])
    return rows


def _progress(x):
    return ("%s of %s" % (human(x["done"]), human(x["total"]))) if x["total"] else "%.1f s" % x["seconds"]


def render_directory(snap):
    """
    A C{--directory} daemon's snapshot: each open repository's nodes, then
    the transfers with their repository.
    """
    lines = ["annexrelay %s serving %s (%d repositories, %d open), up %s%s" % (
        snap["version"], snap["directory"], snap["repositoriesKnown"], snap["repositoriesOpen"], duration(snap["uptime"]),
        " (stopping)" if snap["stopping"] else "")]
    names = {}
    for r in snap["repositories"]:
        rows = _rows(r["targets"], names)
        lines += ["", "%s (%s)" % (r["path"], r["uuid"]), table(rows, ["NODE", "KIND", "STATE", "OPEN/IDLE", "STORED"]) if rows else "nothing proxied"]
    hidden = snap["repositoriesOpen"] - len(snap["repositories"])
    if hidden > 0:
        lines += ["", "%d more open repositories not shown" % hidden]
    transfers = [[x.get("repository") or "", x["door"], x["operation"], names.get(x["target"], x["target"]), x["key"][:60], _progress(x)]
                 for x in snap["transfers"]]
    lines += ["", "transfers in flight: %d" % snap["transfersInFlight"]]
    if transfers:
        lines.append(table(transfers, ["REPOSITORY", "DOOR", "REQUEST", "TARGET", "KEY", "PROGRESS"]))
    if snap["errors"]:
        lines += ["", "last errors:"] + ["  %s %s %s" % (e["time"], e["level"], e["text"][:200]) for e in snap["errors"][-10:]]
    return "\n".join(lines) + "\n"


def main(argv, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    repo = "."
    args = list(argv)
    if args[:1] == ["--url"] and len(args) == 2 or len(args) == 1 and args[0].startswith("--url="):
        url = args[1] if len(args) == 2 else args[0].split("=", 1)[1]
        try:
            snap = ask_url(url)
        except NoDaemon as e:
            err.write("annexrelay status: %s\n" % (e,))
            return 1
        out.write(render_directory(snap) if "repositories" in snap else render(snap))
        return 0
    if args[:1] == ["--repo"] and len(args) >= 2:
        repo = args[1]
        args = args[2:]
    elif args and args[0].startswith("--repo="):
        repo = args[0].split("=", 1)[1]
        args = args[1:]
    if args:
        err.write("usage: annexrelay status [--repo PATH | --url METRICS-URL]\n")
        return 2
    try:
        path = find_repository(repo)[0]
    except Exception as e:
        err.write("annexrelay status: %s\n" % (e,))
        return 1
    try:
        snap = ask(path)
    except NoDaemon as e:
        err.write("annexrelay status: %s\n" % (e,))
        return 1
    out.write(render(snap))
    return 0
