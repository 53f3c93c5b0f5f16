"""
The pkt-line codec: what is encoded decodes back, in any split.
"""

from hypothesis import given, strategies as st
from twisted.trial import unittest

from annexrelay.p2p import pktline

payloads = st.lists(st.binary(min_size=1, max_size=300), max_size=8)


class PktLineTests(unittest.TestCase):
    def test_error_packet(self):
        self.assertEqual(pktline.error(b"read-only"), b"0012ERR read-only\n")

    def test_too_long(self):
        self.assertRaises(pktline.PktLineError, pktline.encode, b"x" * (pktline.MAX_PAYLOAD + 1))

    def test_not_pkt_line(self):
        self.assertRaises(pktline.PktLineError, pktline.decode, b"zzzzabc")
        self.assertRaises(pktline.PktLineError, pktline.decode, b"0002")

    @given(payloads, st.integers(min_value=0, max_value=4000))
    def test_round_trip_in_any_split(self, items, cut):
        wire = b"".join(pktline.encode(p) for p in items) + pktline.FLUSH
        cut = min(cut, len(wire))
        first, rest = pktline.decode(wire[:cut])
        second, left = pktline.decode(rest + wire[cut:])
        self.assertEqual(first + second, items + [b""])
        self.assertEqual(left, b"")
