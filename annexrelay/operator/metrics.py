"""
The request tracker: every session tells it when a request starts, what
it sends and receives, and how it ends, and it keeps the Prometheus series
(C{annexrelay_} prefix, C{_total} counters, C{_seconds}/C{_bytes} units, as
storage gateways name them) and the transfers in flight for the status
page.

Labels are bounded: the front door, the operation, the outcome, the node
name.  Never a key or a client address.
"""

import collections

from prometheus_client import Counter, Gauge, Histogram
from twisted.logger import Logger
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

# What the last message the relay sent in a request says of its outcome.
_OUTCOMES = {
    "SUCCESS": "ok",
    "SUCCESS-PLUS": "ok",
    "ALREADY-HAVE": "ok",
    "ALREADY-HAVE-PLUS": "ok",
    "TIMESTAMP": "ok",
    "CHANGED": "ok",
    "CONNECTDONE": "ok",
    "VALID": "ok",
    "FAILURE": "failure",
    "FAILURE-PLUS": "failure",
    "INVALID": "invalid",
    "ERROR": "error",
}

log = Logger(namespace="annexrelay.requests")

# Requests moving at least this much are logged one by one.
LOG_PAYLOADS_FROM = 1 << 20

DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


def outcome_of(last):
    """
    The outcome label of a request whose last message to the client was
    C{last} (a message name, or None when it sent nothing).
    """
    if last is None:
        return "aborted"
    return _OUTCOMES.get(last, "other")


class Transfer:
    """
    One request in flight, as the status page shows it.

    @ivar total: the payload's size when known (C{DATA n}), else None.
    @ivar done: payload bytes moved so far, when the stream that moves
        them says (L{progress}), else None.
    """

    def __init__(self, door, operation, target, key, started, repository=None):
        self.door = door
        self.repository = repository
        self.operation = operation
        self.target = target
        self.key = key
        self.started = started
        self.firstByte = None
        self.total = None
        self.progress = None

    @property
    def done(self):
        return self.progress() if self.progress is not None else None


class Metrics:
    """
    @param registry: the L{prometheus_client.CollectorRegistry} to fill.
    @param clock: an C{IReactorTime} (its C{seconds()} times requests).
    @param errorsKept: how many recent warnings and errors are kept.
    @param logEveryRequest: log every request (C{--log-format json});
        otherwise only those that failed, moved at least
        L{LOG_PAYLOADS_FROM} bytes or took a second or more: a burst of
        small files costs no log line each (a log event costs 50 to 200 µs,
        as much as relaying the file), and the session's closing line
        counts them.
    """

    def __init__(self, registry, clock, errorsKept=20, logEveryRequest=False, repositoryCap=100):
        self.registry = registry
        # Per-repository series (--directory) for the most recently used
        # repositories; the others are folded into repository="other".
        self.repositoryCap = repositoryCap
        self._repositories = collections.OrderedDict()
        self.clock = clock
        self.logEveryRequest = logEveryRequest
        self.inFlight = {}
        self._children = {}
        self.recentErrors = collections.deque(maxlen=errorsKept)
        self.requests = Counter(
            "annexrelay_requests", "Requests served, by front door, operation and outcome.",
            ["door", "operation", "outcome"], registry=registry,
        )
        self.inFlightGauge = Gauge("annexrelay_requests_in_flight", "Requests being served.", ["door"], registry=registry)
        self.queued = Gauge("annexrelay_requests_queued", "Requests waiting in the admission queue.", registry=registry)
        self.duration = Histogram(
            "annexrelay_request_duration_seconds", "How long requests took.", ["door", "operation"],
            buckets=DURATION_BUCKETS, registry=registry,
        )
        self.ttfb = Histogram(
            "annexrelay_time_to_first_byte_seconds", "Time from a request to the first byte of its answer.",
            ["door", "operation"], buckets=DURATION_BUCKETS, registry=registry,
        )
        self.bytes = Counter("annexrelay_bytes", "Payload bytes, by front door and direction.", ["door", "direction"], registry=registry)
        self.sessions = Counter("annexrelay_sessions", "Client sessions opened, by front door.", ["door"], registry=registry)
        self.sessionsOpen = Gauge("annexrelay_sessions_open", "Client sessions open, by front door.", ["door"], registry=registry)
        self.refusals = Counter("annexrelay_admission_refusals", "Requests refused for load (503).", registry=registry)
        self.errors = Counter("annexrelay_errors", "Errors, by kind.", ["kind"], registry=registry)
        self.loginFailures = Counter(
            "annexrelay_http_login_failures", "annex+http logins refused: a wrong password or an unknown user.", registry=registry,
        )
        self.byRepository = Counter(
            "annexrelay_repository_requests",
            "Requests by repository (--directory): the most recently used ones; the rest as repository=\"other\".",
            ["repository"], registry=registry,
        )

    def _child(self, metric, *labels):
        """
        C{metric.labels(*labels)}, looked up once: prometheus_client's own
        lookup costs more than the rest of counting a request.
        """
        key = (id(metric),) + labels
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def loginFailed(self):
        self.loginFailures.inc()

    # Sessions

    def sessionOpened(self, door):
        self._child(self.sessions, door).inc()
        self._child(self.sessionsOpen, door).inc()

    def sessionClosed(self, door):
        self._child(self.sessionsOpen, door).dec()

    # Requests

    def requestStarted(self, door, operation, target, key, repository=None):
        """
        @param repository: the repository's label (its path under
            C{--directory}), or None for a daemon of one repository.
        @return: the L{Transfer} to report the request's progress and end on.
        """
        t = Transfer(door, operation, target, key, self.clock.seconds(), repository)
        self.inFlight[id(t)] = t
        self._child(self.inFlightGauge, door).inc()
        return t

    def firstByte(self, t):
        if t.firstByte is None:
            t.firstByte = self.clock.seconds()
            self._child(self.ttfb, t.door, t.operation).observe(t.firstByte - t.started)

    def payload(self, t, direction, n):
        """
        A payload of C{n} bytes is announced C{"in"} (from the client) or
        C{"out"} (to it).
        """
        t.total = n
        self._child(self.bytes, t.door, direction).inc(n)

    def requestEnded(self, t, last, peer="", why=None):
        """
        The request is over; C{last} is the last message name sent for it,
        C{why} the text of the last C{ERROR} the client got, if any.  One
        structured log event a request (namespace C{annexrelay.requests}).
        """
        if self.inFlight.pop(id(t), None) is None:
            return
        outcome = outcome_of(last)
        seconds = self.clock.seconds() - t.started
        self._child(self.inFlightGauge, t.door).dec()
        self._child(self.requests, t.door, t.operation, outcome).inc()
        self._child(self.duration, t.door, t.operation).observe(seconds)
        if t.repository is not None:
            self._repositoryCount(t.repository)
        if not self.logEveryRequest and outcome in ("ok", "failure") and (t.total or 0) < LOG_PAYLOADS_FROM and seconds < 1:
            return
        log.info(
            "{door} {operation} {key} on {target} from {peer}: {outcome}, {bytes} byte(s), {seconds:.3f} s{because}",
            door=t.door,
            operation=t.operation,
            key=t.key,
            target=t.target,
            peer=peer,
            outcome=outcome,
            bytes=t.total or 0,
            seconds=seconds,
            reason=why,
            because=(": " + why) if why else "",
        )
        if outcome in ("error", "aborted"):
            self._child(self.errors, "request " + outcome).inc()

    def _repositoryCount(self, repository):
        """
        Count a request of C{repository}; past the cap the least recently
        used repository's series is folded into C{other}, so the series
        stay bounded whatever the number of repositories.
        """
        known = self._repositories
        if repository in known:
            known.move_to_end(repository)
        elif len(known) >= self.repositoryCap:
            old, count = known.popitem(last=False)
            self.byRepository.remove(old)
            self._child(self.byRepository, "other").inc(count)
        known[repository] = known.get(repository, 0) + 1
        self.byRepository.labels(repository).inc()

    def transfers(self):
        """
        The requests in flight, oldest first.
        """
        return sorted(self.inFlight.values(), key=lambda t: t.started)

    # Log events

    def observe(self, event):
        """
        A C{twisted.logger} observer: warnings and errors are kept for the
        status page (the newest last).
        """
        level = event.get("log_level")
        if level is None or level.name not in ("warn", "error", "critical"):
            return
        from twisted.logger import formatEvent

        self.recentErrors.append((event.get("log_time") or self.clock.seconds(), level.name, formatEvent(event)))


class CoreCollector:
    """
    Series read from the core at scrape time: node connections and health
    (from the pool), repository sizes and C{maxsize}, locks held, branch
    commits and records written.
    """

    def __init__(self, core, status):
        self.core = core
        self.status = status

    def describe(self):
        return []

    def collect(self):
        core = self.core
        pool = core.pool
        idle = pool.idleByNode()
        conns = GaugeMetricFamily("annexrelay_node_connections", "Node connections, open and idle.", labels=["node", "state"])
        for name in sorted(set(pool.live) | set(idle)):
            conns.add_metric([name, "open"], len(pool.live.get(name, ())))
            conns.add_metric([name, "idle"], idle.get(name, 0))
        yield conns
        reachable = GaugeMetricFamily("annexrelay_node_reachable", "Whether the last connection to a node succeeded.", labels=["node"])
        failed = GaugeMetricFamily(
            "annexrelay_node_last_failure_timestamp_seconds", "When connecting to a node last failed.", labels=["node"]
        )
        for name, h in sorted(pool.health.items()):
            reachable.add_metric([name], 1 if h.reachable else 0)
            if h.lastFailure is not None:
                failed.add_metric([name], h.lastFailure)
        yield reachable
        yield failed
        names = self.status.nodeNames()
        sizes = GaugeMetricFamily("annexrelay_node_size_bytes", "What a node stores, from the location logs.", labels=["node"])
        known = core.sizes.known() if core.sizes is not None else {}
        for uuid, size in sorted(known.items()):
            if uuid in names:
                sizes.add_metric([names[uuid]], size)
        yield sizes
        maxsizes = GaugeMetricFamily("annexrelay_node_maxsize_bytes", "A node's maxsize (git annex maxsize).", labels=["node"])
        for uuid, size in sorted(self.status.maxsizes().items()):
            if uuid in names:
                maxsizes.add_metric([names[uuid]], size)
        yield maxsizes
        yield GaugeMetricFamily("annexrelay_content_locks_held", "Content locks held for clients.", value=self.status.locksHeld())
        writer = core.locationLog
        yield CounterMetricFamily("annexrelay_branch_commits", "Commits to the git-annex branch.", value=writer.commits)
        yield CounterMetricFamily("annexrelay_branch_records", "Location log records written.", value=writer.recordsWritten)
        stored = CounterMetricFamily(
            "annexrelay_node_local_stores", "Objects annexrelay stored into a node itself (--local-store).", labels=["node"]
        )
        for local in core.localNodes.all() if core.localNodes is not None else ():
            stored.add_metric([local.name], local.stored)
        yield stored
