"""
The live status page, as a pure function of a snapshot
(L{annexrelay.operator.status.Status.snapshot}): one HTML page, no
external asset, readable with JavaScript off; a small script re-fetches it
every two seconds.
"""

from html import escape
from typing import Optional

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#eee;font-weight:600}
.up{color:#176f2c;font-weight:600}.down{color:#b00020;font-weight:600}.unknown{color:#777}
.bar{width:12em;height:.9em;background:#e3e3e3;border-radius:3px;overflow:hidden;display:inline-block;vertical-align:middle}
.bar>span{display:block;height:100%;background:#3a78c2}.bar.full>span{background:#b00020}
.key{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
.muted{color:#777}.err{font-family:ui-monospace,monospace;font-size:.85em}
"""

_SCRIPT = """
setInterval(function(){fetch(location.href,{cache:"no-store"}).then(function(r){return r.text()})
.then(function(t){var d=new DOMParser().parseFromString(t,"text/html");document.body.innerHTML=d.body.innerHTML})
.catch(function(){})},2000);
"""


def human(n: Optional[float]) -> str:
    """
    A byte count as people read it (decimal units, as git-annex writes).
    """
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1000.0
    return "?"


def duration(seconds: float) -> str:
    seconds = int(seconds)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return "%dd %dh" % (d, h)
    if h:
        return "%dh %dm" % (h, m)
    return "%dm %ds" % (m, s) if m else "%ds" % (s,)


def _bar(done, total, label):
    if done is None or not total:
        return '<span class="muted">%s</span>' % escape(label)
    frac = max(0.0, min(1.0, float(done) / total))
    cls = "bar full" if frac >= 0.95 else "bar"
    return '<span class="%s" role="progressbar" aria-valuenow="%d" aria-valuemax="%d"><span style="width:%.1f%%"></span></span> %s' % (
        cls, done, total, frac * 100, escape(label))


def _state(node):
    if node["reachable"] is None:
        return '<span class="unknown">not contacted yet</span>'
    if node["reachable"]:
        return '<span class="up">reachable</span>'
    return '<span class="down">unreachable</span> <span class="muted">%s</span>' % escape(node["why"][:300])


def _node_row(node, kind):
    size, maxsize = node["size"], node["maxsize"]
    if maxsize:
        fill = _bar(size or 0, maxsize, "%s of %s" % (human(size), human(maxsize)))
    else:
        fill = '<span class="muted">%s (no maxsize)</span>' % human(size) if size is not None else '<span class="muted">?</span>'
    return "<tr data-node=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>%d open, %d idle</td><td>%s</td></tr>" % (
        escape(node["name"]), escape(node["name"]), escape(kind), _state(node), node["open"], node["idle"], fill)


def _target_rows(targets, names):
    rows = []
    for t in targets:
        names[t["uuid"]] = t["name"]
        if t["kind"] == "cluster":
            rows.append('<tr class="cluster"><th colspan="5">cluster %s <span class="muted">%s</span></th></tr>' % (
                escape(t["name"]), escape(t["uuid"])))
            for n in t["nodes"]:
                rows.append(_node_row(n, "node of " + t["name"]))
        else:
            rows.append(_node_row(t, t["kind"]))
    return rows


def _nodes_table(targets, names, tableId="nodes"):
    return "".join([
        "<table id=\"%s\" class=\"nodes\"><tr><th>name</th><th>kind</th><th>state</th><th>connections</th><th>stored</th></tr>" % (
            escape(tableId),),
        "".join(_target_rows(targets, names)) or "<tr><td colspan=\"5\" class=\"muted\">nothing proxied</td></tr>",
        "</table>",
    ])


def _transfers_table(transfers, names, byRepository=False):
    rows = []
    for x in transfers:
        rate = "%s/s" % human(x["rate"]) if x["rate"] is not None else ""
        label = "%s of %s %s" % (human(x["done"]), human(x["total"]), rate) if x["total"] else "%.1f s" % x["seconds"]
        where = "<td>%s</td>" % escape(x.get("repository") or "") if byRepository else ""
        rows.append("<tr class=\"transfer\">%s<td>%s</td><td>%s</td><td>%s</td><td class=\"key\">%s</td><td>%s</td></tr>" % (
            where, escape(x["door"]), escape(x["operation"]), escape(names.get(x["target"], x["target"])), escape(x["key"]),
            _bar(x["done"], x["total"], label)))
    head = "<th>repository</th>" if byRepository else ""
    return "".join([
        "<table id=\"transfers\"><tr>%s<th>door</th><th>request</th><th>target</th><th>key</th><th>progress</th></tr>" % head,
        "".join(rows) or "<tr><td colspan=\"%d\" class=\"muted\">none</td></tr>" % (6 if byRepository else 5),
        "</table>",
    ])


def _errors_table(errors):
    rows = ['<tr><td class="muted">%s</td><td>%s</td><td class="err">%s</td></tr>' % (
        escape(e["time"]), escape(e["level"]), escape(e["text"][:500])) for e in reversed(errors)]
    return "".join([
        "<table id=\"errors\"><tr><th>time (UTC)</th><th>level</th><th>what</th></tr>",
        "".join(rows) or "<tr><td colspan=\"3\" class=\"muted\">none</td></tr>",
        "</table>",
    ])


def _page(snap, where, body):
    state = "stopping" if snap["stopping"] else "serving"
    return "".join([
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>annexrelay</title>",
        "<meta name=\"viewport\" content=\"width=device-width\"><style>%s</style></head><body>" % _STYLE,
        "<h1>annexrelay %s</h1>" % escape(snap["version"]),
        "<p class=\"muted\">%s &middot; %s &middot; up %s</p>" % (where, state, duration(snap["uptime"])),
        body,
        "<h2>Last errors</h2>", _errors_table(snap["errors"]),
        "<script>%s</script></body></html>" % _SCRIPT,
    ])


def render_page(snap: dict) -> str:
    names = {}
    return _page(snap, escape(snap["repository"]), "".join([
        "<h2>Targets and nodes</h2>", _nodes_table(snap["targets"], names),
        "<h2>Transfers in flight (%d)</h2>" % len(snap["transfers"]),
        _transfers_table(snap["transfers"], names),
    ]))


def render_directory_page(snap: dict) -> str:
    """
    A C{--directory} daemon (L{annexrelay.operator.status.DirectoryStatus}):
    each open repository's targets and nodes, then every transfer in
    flight with its repository.
    """
    names = {}
    sections = []
    for i, r in enumerate(snap["repositories"]):
        sections.append("<h3 class=\"repository\">%s <span class=\"muted\">%s</span></h3>" % (escape(r["path"]), escape(r["uuid"])))
        sections.append(_nodes_table(r["targets"], names, "nodes-%d" % i))
    hidden = snap["repositoriesOpen"] - len(snap["repositories"])
    if hidden > 0:
        sections.append("<p class=\"muted\">%d more open repositories not shown</p>" % hidden)
    more = snap["transfersInFlight"] - len(snap["transfers"])
    where = "%s &middot; %d repositories, %d open" % (escape(snap["directory"]), snap["repositoriesKnown"], snap["repositoriesOpen"])
    return _page(snap, where, "".join([
        "<h2>Repositories (%d open)</h2>" % snap["repositoriesOpen"],
        "".join(sections) or "<p class=\"muted\">none open</p>",
        "<h2>Transfers in flight (%d)</h2>" % snap["transfersInFlight"],
        _transfers_table(snap["transfers"], names, byRepository=True),
        "<p class=\"muted\">%d more not shown</p>" % more if more > 0 else "",
    ]))
