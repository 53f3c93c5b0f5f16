"""
A PUT to a cluster: which nodes get it (L{chooseNodes}), then one client
upload stored on every chosen node in parallel (L{ClusterPut}).

The candidates (L{annexrelay.placement.ClusterView.putCandidates}) are
asked C{PUT} at once; the client gets C{PUT-FROM} the smallest offset; its
payload goes to every node that wants it, each from its own offset, paced
by the slowest (L{annexrelay.streams}); a node that breaks or stalls is
dropped and the others complete.  The nodes' verdicts are combined
(L{annexrelay.targets.replies.stored_by}, L{annexrelay.targets.replies.put_reply}) and
every node that stored the key is recorded in the location log.

A small object's nodes that annexrelay writes itself (C{--local-store},
L{annexrelay.localnode}) take part without a connection: they are asked
and store the payload in the daemon, beside the others.
"""

from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.branch import locationlog, metadata as branchmetadata
from annexrelay.interfaces import SessionAborted
from annexrelay.localnode import serve as localserve
from annexrelay.p2p import messages
from annexrelay.p2p.framing import ShortData
from annexrelay.p2p.messages import Message, is_reply
from annexrelay.placement.view import associated_file
from annexrelay.targets import relaying, replies

# Objects up to this size are uploaded without waiting for the nodes'
# resume offsets (see ClusterPut._small).
SMALL_OBJECT = relaying.SMALL_OBJECT

log = Logger()


async def chooseNodes(view, holders, af, key, branch, sizes, noted):
    """
    The nodes a PUT of C{key} goes to (L{annexrelay.placement.ClusterView.putCandidates}),
    with the key's metadata and the repositories' sizes read only when the
    nodes' preferred content needs them.

    @param branch: the L{annexrelay.branch.reader.BranchReader}.
    @param sizes: the L{annexrelay.branch.sizes.RepoSizes}, or None.
    @param noted: the session's set of C{(node name, terms)} already logged
        as not evaluated (each is logged once per session).
    """
    file = associated_file(af)
    metadata = None
    if view.usesMetadata:
        path = locationlog.metadata_path(key, branch.onelevel)
        metadata = branchmetadata.current((await branch.read([path]))[path])
    known = None
    if view.usesSizes and sizes is not None:
        known = await sizes.sizes()
    candidates, unknown = view.putCandidates(holders, file, locationlog.key_size(key), key, metadata, known)
    for name, terms in sorted(unknown.items()):
        if (name, frozenset(terms)) in noted:
            continue
        noted.add((name, frozenset(terms)))
        if terms == {"unparsable expression"}:
            log.warn(
                "node {node}'s preferred content cannot be parsed (as git-annex does, it wants only what it has)",
                node=name,
            )
        elif terms == {"uncompilable glob"}:
            log.warn(
                "node {node}'s preferred content has a glob git-annex cannot compile"
                " (git-annex's gateway fails the upload; annexrelay lets the node want only what it has)",
                node=name,
            )
        else:
            log.info(
                "node {node}'s preferred content uses {terms}, not evaluated by annexrelay; it counts as wanting",
                node=name,
                terms=", ".join(sorted(terms)),
            )
    return candidates


class ClusterPut:
    """
    One C{PUT af key} of a client session to a cluster, on the nodes the
    gateway chose.

    @param session: the client's L{annexrelay.interfaces.IClientSession}.
    @param msg: the C{PUT} message.
    @param nodes: the session's L{annexrelay.targets.nodeset.NodeSet} (its
        clock and reply timeout also pace the fan-out).
    @param streams: the L{annexrelay.streams.Streams} payloads move with.
    @param candidates: the nodes to offer the upload to, in cost order.
    @param holding: the UUIDs of the cluster's nodes the location log says
        hold the key already.
    @param recordStored: called as C{recordStored(have, stored)} with every
        UUID that holds the key afterwards and those that stored it now.
    @param clusterName: the cluster's name, for logs and errors.
    @ivar stores: how many nodes stored the key.
    """

    log = Logger()

    def __init__(self, session, msg, nodes, streams, candidates, holding, recordStored, clusterName):
        self.session = session
        self.msg = msg
        self.af, self.key = msg.args
        self.nodes = nodes
        self.streams = streams
        self.candidates = candidates
        self.holding = list(holding)
        self.recordStored = recordStored
        self.clusterName = clusterName
        self.stores = 0
        self.conns = {}
        self._leases = {}
        self.clientInvalid = False

    def _keyText(self):
        return self.key.decode("utf-8", "replace")

    def _finish(self, conn):
        lease = self._leases.pop(conn, None)
        if lease is not None:
            lease.finish()

    async def run(self):
        """
        @return: how many nodes stored the key.
        """
        session = self.session
        size = locationlog.key_size(self.key)
        small = size is not None and size <= SMALL_OBJECT
        local = self._localNodes() if small else {}
        reachable = await self.nodes.connectAll([n for n in self.candidates if n not in local])
        for _, conn in reachable:
            self._leases[conn] = conn.lease()
        self.conns = dict(reachable)
        asked = defer.gatherResults([defer.ensureDeferred(self.nodes.ask(n, c, self.msg)) for n, c in reachable])
        if (reachable or local) and small:
            receiving = {}
            try:
                await self._small(reachable, asked, local, receiving)
            finally:
                for r in receiving.values():
                    if r is not None:
                        r.close()
            return self.stores
        answers = self._sort(reachable, await asked)
        if not answers.wanting:
            self._nobodyTakesIt(answers)
            return self.stores
        start = min(o for _, o in answers.wanting)
        session.sendMessage(Message("PUT-FROM", (start,)))
        nxt = await session.nextMessage()
        if is_reply(nxt, "DATA"):
            await self._upload(nxt.args[0], start, answers.wanting)
        elif not self._otherThanData(nxt, answers.wanting):
            return self.stores
        await self._stored(answers)
        return self.stores

    def _nobodyTakesIt(self, answers):
        """
        No node takes the upload: the nodes that said they have it, else
        those the location log says have it (the chosen nodes were
        unreachable, but the content is in the cluster already), else a
        clear error.
        """
        session = self.session
        have = replies.without_clusters(answers.have)
        if answers.anyHave:
            self.recordStored(answers.have, [])
        else:
            have = self.holding
            if have:
                self.log.info(
                    "cluster {cluster}: PUT {key}: no chosen node could take it; {n} node(s) already have it",
                    cluster=self.clusterName,
                    key=self._keyText(),
                    n=len(have),
                )
        if answers.anyHave or have:
            session.sendMessage(messages.plus_or_plain("ALREADY-HAVE", have, session.version))
            return
        why = "no node of cluster %s could store the content" % (self.clusterName,)
        if self.nodes.unreachable:
            why += " (unreachable: %s)" % (", ".join(sorted(n.name for n in self.nodes.unreachable)),)
        self.log.warn("{why}: {key}", why=why, key=self._keyText())
        session.sendMessage(messages.error(why))

    def _localNodes(self):
        """
        The candidates annexrelay writes itself that take this key:
        C{{node: LocalNode}}.
        """
        localFor = self.nodes.localFor
        if localFor is None:
            return {}
        found = {node: localFor(node) for node in self.candidates}
        return {node: ln for node, ln in found.items() if ln is not None and ln.gone() is None and ln.takes(self.key)}

    async def _small(self, reachable, asked, local, receiving):
        """
        A small object: the client is told C{PUT-FROM 0} at once and sends
        while the nodes are still answering C{PUT}; the payload (at most
        L{SMALL_OBJECT} bytes) is then written to each node from its own
        offset.  This takes a round trip to the nodes off every small
        upload; resuming does not matter at this size.  The C{local} nodes
        are asked in the daemon (C{receiving} gets what they receive with).
        """
        session = self.session
        localAnswers = []
        for node, ln in local.items():
            reply, receiving[node] = localserve.ask(ln, self.key)
            localAnswers.append((node, reply))
        session.sendMessage(Message("PUT-FROM", (0,)))
        nxt = await session.nextMessage()
        payload = verdict = None
        if is_reply(nxt, "DATA"):
            n = nxt.args[0]
            if n < 0 or n > SMALL_OBJECT:
                raise SessionAborted("client announced DATA %d for %s" % (n, self._keyText()))
            chunks = []
            await session.readData(n, lambda data: chunks.append(bytes(data)))
            payload = b"".join(chunks)
            if session.version >= 1:
                verdict = await relaying.clientVerdict(session)
                self.clientInvalid = is_reply(verdict, "INVALID")
        answers = self._sort(reachable, await asked, localAnswers)
        localFinals = []
        if payload is None:
            if not self._otherThanData(nxt, answers.wanting):
                return
            for node, _ in answers.wanting:
                if node in local:
                    localFinals.append((node, messages.SUCCESS if local[node].present(self.key) else messages.FAILURE))
        else:
            # The local nodes store at once, each waiting only for its own
            # journal, while the others get the payload.
            stores = []
            for node, offset in answers.wanting:
                offset = min(offset, len(payload))
                self.nodes.transfers(node).note("PUT", self.key, offset, len(payload) - offset)
                if node in local:
                    stores.append((node, defer.ensureDeferred(localserve.storeWhole(receiving[node], payload, offset, verdict))))
                    continue
                conn = self.conns[node]
                conn.sendPayload(payload[offset:], verdict if conn.version >= 1 else None)
            for node, stored in stores:
                localFinals.append((node, await stored))
        await self._stored(answers, localFinals)

    def _inOrder(self, pairs):
        """
        C{[(node, reply)]} in the candidates' order (cheapest first).
        """
        order = {node: i for i, node in enumerate(self.candidates)}
        return sorted(pairs, key=lambda pair: order.get(pair[0], len(order)))

    def _sort(self, reachable, answered, localAnswers=()):
        """
        The nodes' answers to C{PUT}; those not taking the upload are done.
        """
        answers = replies.put_answers(self._inOrder(list(zip([n for n, _ in reachable], answered)) + list(localAnswers)))
        wanting = {node for node, _ in answers.wanting}
        for node, conn in reachable:
            if node not in wanting:
                self._finish(conn)
        for node, reply in answers.others:
            self.log.info("node {node} answered PUT with {reply}", node=node.name, reply=messages.format(reply).strip())
        return answers

    def _otherThanData(self, nxt, wanting):
        """
        The client answered C{PUT-FROM} with something other than C{DATA}.

        @return: True if the nodes' verdicts are to be awaited (C{DATA-PRESENT}).
        """
        wanting = [(node, o) for node, o in wanting if node in self.conns]
        if is_reply(nxt, "DATA-PRESENT"):
            for node, _ in wanting:
                conn = self.conns[node]
                conn.sendMessage(nxt if conn.version >= 4 else messages.error("expected DATA"))
            return True
        if not is_reply(nxt, "ERROR"):
            self.session.sendMessage(messages.EXPECTED_DATA)
            nxt = messages.error("expected DATA")
        for node, _ in wanting:
            conn = self.conns[node]
            conn.sendMessage(nxt)
            self._finish(conn)
        return False

    async def _stored(self, answers, localFinals=()):
        """
        Gather the nodes' verdicts on the upload (with C{localFinals}, those
        of the nodes annexrelay wrote), record who has the key, and answer
        the client.
        """
        alive = [(n, self.conns[n]) for n, _ in answers.wanting if n in self.conns and not self.conns[n].broken]
        finals = await defer.gatherResults([defer.ensureDeferred(self.nodes.read(n, c)) for n, c in alive])
        for _, conn in alive:
            self._finish(conn)
        finals = self._inOrder(list(zip([n for n, _ in alive], finals)) + list(localFinals))
        stored, refused = replies.stored_by(finals)
        succeeded = sum(1 for _, f in finals if is_reply(f, "SUCCESS", "SUCCESS-PLUS"))
        self.stores += succeeded
        # After the client's own INVALID (an annex+http putoffset sends
        # DATA 0 and INVALID) a node's FAILURE is expected, not news.
        say = self.log.debug if self.clientInvalid else self.log.warn
        for node, final in refused:
            say(
                "node {node} did not store {key}: {reply}",
                node=node.name,
                key=self._keyText(),
                reply=messages.format(final).strip(),
            )
        have = replies.without_clusters(answers.have + stored)
        self.recordStored(have, replies.without_clusters(stored))
        ok = succeeded > 0 or answers.anyHave
        if not ok:
            # Every node that took the upload failed; if others hold the
            # key already, the content is in the cluster all the same.
            have = self.holding
            if have:
                ok = True
                self.log.info(
                    "cluster {cluster}: PUT {key}: no node stored it; {n} node(s) already have it",
                    cluster=self.clusterName,
                    key=self._keyText(),
                    n=len(have),
                )
        self.session.sendMessage(replies.put_reply(have, ok, self.session.version))

    async def _upload(self, n, start, wanting):
        """
        Stream the client's C{DATA n} (from offset C{start}) to every wanting
        node, each from its own offset, then pass the client's verdict on.
        """
        session = self.session
        if n < 0:
            raise SessionAborted("client announced DATA %d" % (n,))
        total = start + n
        for node, offset in wanting:
            self.nodes.transfers(node).note("PUT", self.key, offset, total - offset)
        conns = [(node, self.conns[node], offset) for node, offset in wanting]
        verdict = None
        whole = session.takePayload(n, session.version >= 1)
        if whole is not None:
            # Small objects: header, payload and verdict in one write each.
            payload, verdict = whole
            for node, conn, offset in conns:
                conn.sendPayload(payload[offset - start :], verdict if conn.version >= 1 else None)
        else:
            for node, conn, offset in conns:
                conn.sendMessage(messages.data(total - offset))
            byConn = {conn: node for node, conn, _ in conns}

            def dropped(conn, why):
                self.nodes.fail(byConn[conn], "in the middle of PUT data: " + why)

            try:
                await self.streams.payload(
                    session,
                    n,
                    [(conn, offset - start) for _, conn, offset in conns],
                    self.nodes.replyTimeout,
                    self.nodes.clock,
                    dropped,
                )
            except ShortData as e:
                for _, conn, _ in conns:
                    conn.close()
                raise SessionAborted("client stopped sending in the middle of PUT data: %s" % (e,))
            except OSError as e:
                for _, conn, _ in conns:
                    conn.close()
                raise SessionAborted("PUT data could not be relayed: %s" % (e,))
        self.clientInvalid = is_reply(verdict, "INVALID")
        if session.version >= 1 and verdict is None:
            verdict = await relaying.clientVerdict(session)
            self.clientInvalid = is_reply(verdict, "INVALID")
            for _, conn, _ in conns:
                if conn.version >= 1 and not conn.broken:
                    conn.sendMessage(verdict)
