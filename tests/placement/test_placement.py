"""
Tier 1: the branch logs a gateway reads, and node choice, pure.
"""

import random

from twisted.trial import unittest

from annexrelay.branch import uuidlogs
from annexrelay.branch.locationlog import key_size
from annexrelay.placement.view import ClusterView, associated_file, by_cost
from annexrelay.repo import Cluster, Node, is_cluster_uuid

C = b"ac36e849-d083-8884-bd91-5d895d2dbfd8"
U1, U2, U3, U4 = (b"%d%s" % (i, b"1111111-1ddd-4f1a-a22c-16b82487267f") for i in range(1, 5))
ME = b"5be33b88-f077-4dfa-8ff3-5e8cde6218ce"
OTHER_GATEWAY = b"7c0d0704-b9d7-43c1-82da-3041779ddbe9"


class UUIDLogTests(unittest.TestCase):
    def test_old_style_newest_wins(self):
        content = b"u1 0 timestamp=10s\nu1 X timestamp=20s\nu2 ? timestamp=5s\nu2 1\n"
        self.assertEqual(uuidlogs.old_style(content), {b"u1": b"X", b"u2": b"?"})
        self.assertEqual(uuidlogs.dead(content), {b"u1"})

    def test_preferred_content_with_spaces_and_empty(self):
        content = b"u1 include=*.jpg or largerthan=1mb timestamp=1795571560s\nu2  timestamp=1795571560s\n"
        self.assertEqual(uuidlogs.preferred_content(content), {b"u1": "include=*.jpg or largerthan=1mb", b"u2": ""})

    def test_new_style(self):
        content = b"1795571688s " + C + b" " + U2 + b" " + U1 + b"\n1795571600s " + C + b" " + U3 + b"\nbad line\n"
        self.assertEqual(uuidlogs.cluster_nodes(content, C), frozenset([U1, U2]))
        self.assertEqual(uuidlogs.group_preferred_content(b"1795586459s mygroup include=*.jpg\n"), {"mygroup": "include=*.jpg"})

    def test_groups(self):
        self.assertEqual(uuidlogs.groups(b"u1 a b timestamp=1s\n"), {b"u1": {"a", "b"}})


class KeyTests(unittest.TestCase):
    def test_key_size(self):
        self.assertEqual(key_size(b"SHA256E-s13--d13b.txt"), 13)
        self.assertEqual(key_size(b"SHA256E-s1048576-S262144-C2--e3b0.bin"), 1048576)
        self.assertEqual(key_size(b"WORM-m1700000000--a-s3"), None)
        self.assertEqual(key_size(b"URL--http&c%%example.com"), None)

    def test_cluster_uuid_rule(self):
        self.assertTrue(is_cluster_uuid(C))
        self.assertFalse(is_cluster_uuid(U1))
        self.assertFalse(is_cluster_uuid(b"ac36e849-d083-4884-bd91-5d895d2dbfd8"))


def view(files=None, bypass=(), gateways=(), costs=(100, 100, 200)):
    nodes = tuple(Node("n%d" % i, u, "/n%d" % i, cost=c) for i, (u, c) in enumerate(zip((U1, U2, U3), costs), 1))
    cluster = Cluster("c1", C, nodes, tuple(gateways))
    f = {uuidlogs.CLUSTER_LOG: b"1s " + C + b" " + b" ".join([U1, U2, U3, U4]) + b"\n"}
    f.update(files or {})
    return ClusterView(cluster, f, bypass, ME, random.Random(1))


class ClusterViewTests(unittest.TestCase):
    def test_nodes_listed_alive_not_bypassed(self):
        v = view({uuidlogs.TRUST_LOG: U3 + b" X timestamp=1s\n"}, bypass=[U2])
        self.assertEqual([n.name for n in v.nodes], ["n1"])
        self.assertEqual(sorted(v.skipped), [("n2", "bypassed by the client"), ("n3", "marked dead")])

    def test_not_in_cluster_log(self):
        v = view({uuidlogs.CLUSTER_LOG: b"1s " + C + b" " + U1 + b"\n"})
        self.assertEqual([n.name for n in v.nodes], ["n1"])
        self.assertIn("updatecluster", dict(v.skipped)["n2"])

    def test_holding_cheapest_first_random_among_equal(self):
        seen = set()
        for seed in range(20):
            v = view()
            v.rng = random.Random(seed)
            order = [n.name for n in v.holding({U1, U2, U3})]
            self.assertEqual(order[2], "n3")
            seen.add(tuple(order[:2]))
        self.assertEqual(seen, {("n1", "n2"), ("n2", "n1")})

    def test_gateways(self):
        g = Node("g2", C, "localhost:/g2", via=OTHER_GATEWAY)
        mine = Node("g0", C, "localhost:/g0", via=ME)
        v = view(gateways=[g, mine])
        self.assertIn(g, v.nodes)
        self.assertNotIn(mine, v.nodes)
        # U4 is reached only through the other gateway.
        self.assertEqual(v.holding({U4})[0], g)
        # Other gateways are a last resort for reads.
        self.assertEqual(v.holding({U1})[-1], g)
        self.assertNotIn(g, view(gateways=[g], bypass=[OTHER_GATEWAY]).nodes)

    def test_put_candidates(self):
        v = view({uuidlogs.PREFERRED_CONTENT_LOG: U1 + b" include=*.jpg timestamp=1s\n" + U2 + b" include=*.txt or include=*.jpg timestamp=1s\n"})
        nodes, unknown = v.putCandidates({U3}, "a.txt", 10)
        self.assertEqual([n.name for n in nodes], ["n2"])
        self.assertEqual(unknown, {})
        nodes, _ = v.putCandidates(set(), "a.jpg", 10)
        self.assertEqual(sorted(n.name for n in nodes), ["n1", "n2", "n3"])

    def test_put_candidates_fall_back(self):
        v = view({uuidlogs.PREFERRED_CONTENT_LOG: b"".join(u + b" nothing timestamp=1s\n" for u in (U1, U2, U3))})
        self.assertEqual(sorted(n.name for n in v.putCandidates({U1}, "a", 1)[0]), ["n2", "n3"])
        self.assertEqual(sorted(n.name for n in v.putCandidates({U1, U2, U3}, "a", 1)[0]), ["n1", "n2", "n3"])

    def test_groupwanted_and_copies(self):
        files = {
            uuidlogs.GROUP_LOG: U1 + b" photos timestamp=1s\n" + U2 + b" backup timestamp=1s\n",
            uuidlogs.GROUP_PREFERRED_CONTENT_LOG: b"1s photos include=*.jpg\n",
            uuidlogs.PREFERRED_CONTENT_LOG: U1 + b" groupwanted timestamp=1s\n"
            + U2 + b" standard timestamp=1s\n" + U3 + b" not copies=backup:1 timestamp=1s\n",
        }
        v = view(files)
        self.assertEqual(sorted(n.name for n in v.putCandidates(set(), "a.txt", 1)[0]), ["n2", "n3"])
        # Once a backup node has it, n3 no longer wants it; n1 wants jpgs.
        self.assertEqual([n.name for n in v.putCandidates({U2}, "a.jpg", 1)[0]], ["n1"])

    def test_dead_holders_and_members(self):
        """
        A dead holder (U4, outside the cluster) is not a copy; a dead
        repository put back in a group is a member that never holds.
        """
        files = {
            uuidlogs.TRUST_LOG: U4 + b" X timestamp=1s\n",
            uuidlogs.GROUP_LOG: U4 + b" g timestamp=2s\n" + U1 + b" g timestamp=2s\n",
            uuidlogs.PREFERRED_CONTENT_LOG: U1 + b" nothing timestamp=1s\n"
            + U2 + b" not copies=1 timestamp=1s\n" + U3 + b" not inallgroup=g timestamp=1s\n",
        }
        v = view(files)
        self.assertEqual(v.members["g"], frozenset([U1, U4]))
        self.assertEqual(sorted(n.name for n in v.putCandidates({U4}, "a", 1)[0]), ["n2", "n3"])
        self.assertEqual(sorted(n.name for n in v.putCandidates({U4, U1}, "a", 1)[0]), ["n3"])

    def test_associated_file_as_the_gateway_reads_it(self):
        self.assertEqual(associated_file(b""), None)
        self.assertEqual(associated_file(b"a%b.txt"), "a_b.txt")
        self.assertEqual(associated_file(b"50%%.txt"), "50%.txt")
        self.assertEqual(associated_file(b"%%%x\x01"), "%_x_")
        self.assertEqual(associated_file("d\u00e9j\u00e0/\xff".encode("utf-8", "surrogateescape")), "d\u00e9j\u00e0/\xff")

    def test_by_cost(self):
        nodes = [Node("a", U1, "/a", cost=300), Node("b", U2, "/b", cost=100)]
        self.assertEqual([n.name for n in by_cost(nodes, random.Random(0))], ["b", "a"])


class ReplyCombinationTests(unittest.TestCase):
    """
    The nodes' replies combined into the gateway's (pure).
    """

    def setUp(self):
        from annexrelay.p2p.messages import Message

        self.M = Message
        self.n1 = Node("n1", b"u1", "/n1")
        self.n2 = Node("n2", b"u2", "/n2")
        self.g = Node("g", b"ac36e849-d083-8884-bd91-5d895d2dbfd8", "/g", via=b"ug")

    def test_put_answers(self):
        from annexrelay.targets.replies import put_answers

        M = self.M
        a = put_answers(
            [
                (self.n1, M("PUT-FROM", (10,))),
                (self.n2, M("ALREADY-HAVE")),
                (self.g, M("ALREADY-HAVE-PLUS", ((b"u3",),))),
                (Node("n4", b"u4", "/n4"), M("ERROR", ("full",))),
                (Node("n5", b"u5", "/n5"), None),
            ]
        )
        self.assertEqual(a.wanting, [(self.n1, 10)])
        self.assertEqual(a.have, [b"u2", b"u3"])
        self.assertTrue(a.anyHave)
        self.assertEqual([n.name for n, _ in a.others], ["n4"])

    def test_stored_and_reply(self):
        from annexrelay.targets.replies import put_reply, stored_by

        M = self.M
        stored, refused = stored_by([(self.n1, M("SUCCESS")), (self.n2, M("FAILURE")), (self.g, None)])
        self.assertEqual(stored, [b"u1"])
        self.assertEqual([n.name for n, _ in refused], ["n2"])
        self.assertEqual(put_reply([b"u1"], True, 2), M("SUCCESS-PLUS", ((b"u1",),)))
        self.assertEqual(put_reply([b"u1"], True, 1), M("SUCCESS"))
        self.assertEqual(put_reply([], False, 4), M("FAILURE"))

    def test_remove(self):
        from annexrelay.targets.replies import remove_outcome, remove_reply

        M = self.M
        everyone = remove_outcome([(self.n1, M("SUCCESS")), (self.n2, M("SUCCESS"))], 0)
        self.assertEqual(remove_reply(everyone, 2), M("SUCCESS-PLUS", ((b"u1", b"u2"),)))
        self.assertEqual(remove_reply(everyone, 1), M("SUCCESS"))
        some = remove_outcome([(self.n1, M("SUCCESS")), (self.n2, M("ERROR", ("locked",)))], 1)
        self.assertEqual(some.failed, 2)
        self.assertEqual(remove_reply(some, 2), M("FAILURE-PLUS", ((b"u1",),)))
        self.assertEqual(remove_reply(some, 1), M("ERROR", ("locked",)))
        none = remove_outcome([(self.n1, None)], 0)
        self.assertEqual(remove_reply(none, 4), M("FAILURE"))
