"""
How the nodes' replies to one cluster request combine into the gateway's
answer (C{../shared/spec/proxy-and-cluster.md} §4.4), as pure functions:
L{put_answers} sorts the answers to C{PUT}, L{stored_by} the verdicts after
the upload, L{put_reply} is the client's answer; L{remove_outcome} and
L{remove_reply} do the same for C{REMOVE}.
"""

from typing import Iterable, List, NamedTuple, Optional, Tuple

from annexrelay.p2p.messages import Message, is_reply, plus_or_plain, plus_uuids
from annexrelay.repo import Node, is_cluster_uuid


def without_clusters(uuids: Iterable[bytes]) -> List[bytes]:
    """
    C{uuids} once each, in order, without cluster UUIDs (never recorded,
    never reported as holders).
    """
    return [u for u in dict.fromkeys(uuids) if not is_cluster_uuid(u)]


def _holders_named(node: Node, reply) -> List[bytes]:
    """
    The repositories a reply of C{node} says hold (or lost) the key: the
    node itself unless it is another gateway, and those its C{-PLUS} names.
    """
    return ([] if node.via else [node.uuid]) + plus_uuids(reply)


class PutAnswers(NamedTuple):
    """
    The nodes' answers to C{PUT}.

    @ivar wanting: C{[(node, offset)]} of those that said C{PUT-FROM}.
    @ivar have: the UUIDs that already hold the key.
    @ivar anyHave: whether any node said it holds it.
    @ivar others: C{[(node, reply)]} of the nodes that answered otherwise.
    """

    wanting: List[Tuple[Node, int]]
    have: List[bytes]
    anyHave: bool
    others: List[Tuple[Node, Message]]


def put_answers(replies: Iterable[Tuple[Node, Optional[Message]]]) -> PutAnswers:
    """
    Sort the replies (None: the node broke) to a cluster's C{PUT}.
    """
    wanting, have, others = [], [], []
    anyHave = False
    for node, reply in replies:
        if is_reply(reply, "PUT-FROM"):
            wanting.append((node, max(0, reply.args[0])))
        elif is_reply(reply, "ALREADY-HAVE", "ALREADY-HAVE-PLUS"):
            anyHave = True
            have.extend(_holders_named(node, reply))
        elif reply is not None:
            others.append((node, reply))
    return PutAnswers(wanting, have, anyHave, others)


def stored_by(finals: Iterable[Tuple[Node, Optional[Message]]]) -> Tuple[List[bytes], List[Tuple[Node, Message]]]:
    """
    The nodes' verdicts after an upload.

    @return: C{(the UUIDs that now hold the key, [(node, refusal)])}; a
        node that broke (None) is in neither.
    """
    stored, refused = [], []
    for node, final in finals:
        if is_reply(final, "SUCCESS", "SUCCESS-PLUS"):
            stored.extend(_holders_named(node, final))
        elif final is not None:
            refused.append((node, final))
    return stored, refused


def put_reply(have: List[bytes], stored: bool, version: int) -> Message:
    """
    The gateway's answer after an upload: C{SUCCESS(-PLUS)} naming every
    holder, or C{FAILURE} if no node stored it and none had it.
    """
    if not stored:
        return Message("FAILURE")
    return plus_or_plain("SUCCESS", have, version)


class RemoveOutcome(NamedTuple):
    removed: List[bytes]
    failed: int
    firstError: Optional[Message]


def remove_outcome(replies: Iterable[Tuple[Node, Optional[Message]]], unreachable: int) -> RemoveOutcome:
    """
    The nodes' replies to C{REMOVE}/C{REMOVE-BEFORE} (None: not asked, or
    broke); C{unreachable} nodes could not be asked at all.
    """
    removed = []
    failed = unreachable
    firstError = None
    for node, reply in replies:
        if is_reply(reply, "SUCCESS", "SUCCESS-PLUS"):
            removed.extend(_holders_named(node, reply))
            continue
        failed += 1
        removed.extend(plus_uuids(reply))
        if is_reply(reply, "ERROR") and firstError is None:
            firstError = reply
    return RemoveOutcome(without_clusters(removed), failed, firstError)


def remove_reply(outcome: RemoveOutcome, version: int) -> Message:
    """
    The gateway's answer to C{REMOVE}: C{SUCCESS} when every node removed
    it, else C{FAILURE} (or the first node's C{ERROR}); the C{-PLUS} forms
    name the nodes that did remove it, for clients of version 2 or later.
    """
    plain = version < 2 or not outcome.removed
    if not outcome.failed:
        return Message("SUCCESS") if plain else Message("SUCCESS-PLUS", (tuple(outcome.removed),))
    if plain:
        return outcome.firstError or Message("FAILURE")
    return Message("FAILURE-PLUS", (tuple(outcome.removed),))
