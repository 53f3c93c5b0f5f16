"""
Quotas: sizes read as git-annex reads them (checked against git-annex
10.20261026's C{git annex maxsize}), the decision, and a PUT over quota
refused by the session before any node sees it.
"""

from fractions import Fraction

from hypothesis import given, strategies as st
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay import quota
from annexrelay.branch.sizes import RepoSizes
from annexrelay.testing.memory import KEY, NODE_UUID, RelayPair

# What git-annex 10.20261026 wrote to maxsize.log for each input.
GIT_ANNEX = {
    "50GB": 50_000_000_000,
    "1.5 GiB": 1_610_612_736,
    "100 megabytes": 100_000_000,
    "100megabyte": 100_000_000,
    "12": 12,
    "1.5": 2,
    "2.5": 2,
    "3.5": 4,
    "0.5": 0,
    "1.25 kB": 1250,
    "1 Mi": 1_048_576,
    "3 k": 3000,
    "1 KB": 1000,
    "1 kb": 1000,
    "1 kiB": 1024,
    "1 MIB": 1_048_576,
    "1 mebibyte": 1_048_576,
    "1 GIGABYTES": 1_000_000_000,
    "1 Bytes": 1,
    "1 b": 1,
    "1 kibibytes": 1024,
    "5 ": 5,
    " 5": 5,
    "5\tMB": 5_000_000,
    "1e-3": 0,
    "1.0e2 kB": 100_000,
    "1e3": 1000,
    "1E3": 1000,
    "1e+3": 1000,
    "1e": 1_000_000_000_000_000_000,
    "1 Z": 10**21,
    "1 YiB": 2**80,
    "1 zebibyte": 2**70,
    "1 Gi": 2**30,
    "1 gb": 10**9,
    "1 kB/s": 1000,
    "1_000": 1,
    "1,000": 1,
    "00012": 12,
    "1 mbit": 125_000,
    "1 kilobits": 125,
    "1 Tbit": 125_000_000_000,
    "1.5.5 MB": 2,
    "5.MB": 5,
    "0X1f": 31,
    "0o17": 15,
    "0b101": 0,
    "5 MB junk": 5_000_000,
    "1 TiB": 2**40,
    "1 tebibyte": 2**40,
}
# Inputs git-annex refuses.
REFUSED = ["", "abc", "5 bogus", "-5 MB", "+5", "-0", ".5MB", "5 MBs", "5 mbytes", "1 Kbyte", "1 KiBs", "5 MBMB", "8 bit", "1 gibit", "1 QiB"]


class ParseSizeTests(unittest.TestCase):
    def test_as_git_annex(self):
        for text, size in GIT_ANNEX.items():
            self.assertEqual(quota.parse_size(text), size, text)

    def test_refused_as_git_annex(self):
        for text in REFUSED:
            self.assertRaises(ValueError, quota.parse_size, text)

    def test_refused_beyond_git_annex(self):
        """
        git-annex reads these as floating point oddities; a quota refuses
        them.
        """
        for text in ["NaN", "Infinity", "1e400"]:
            self.assertRaises(ValueError, quota.parse_size, text)

    def test_error_says_why(self):
        e = self.assertRaises(ValueError, quota.parse_size, "5 bogus")
        self.assertIn("unknown unit 'bogus'", str(e))

    @given(st.integers(min_value=0, max_value=10**30))
    def test_bytes_round_trip(self, n):
        self.assertEqual(quota.parse_size(str(n)), n)

    @given(
        st.integers(min_value=0, max_value=10**12),
        st.sampled_from(quota.UNITS),
        st.sampled_from(["abbrev", "name", "plural", "short"]),
        st.sampled_from(["", " ", "  "]),
        st.booleans(),
    )
    def test_units(self, n, unit, form, space, upper):
        abbrev, name, size = unit
        spelled = {"abbrev": abbrev, "name": name, "plural": name + "s", "short": abbrev[:-1] if abbrev.endswith("B") else abbrev}[form]
        if upper:
            spelled = spelled.upper()
        got = quota.parse_size("%d%s%s" % (n, space, spelled))
        if form == "short" and abbrev == "B":
            # (the unit is then empty: bytes)
            self.assertEqual(got, n)
        elif size.denominator == 1 or form != "abbrev":
            # Decimal units come first: "kbit" is only ever a kilobit.
            self.assertEqual(got, round(n * size))

    @given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=999), st.sampled_from(["kB", "MiB", "GB"]))
    def test_fractions_exact(self, whole, frac, unit):
        size = dict((a, s) for a, _, s in quota.UNITS)[unit]
        self.assertEqual(quota.parse_size("%d.%03d %s" % (whole, frac, unit)), round((whole + Fraction(frac, 1000)) * size))

    @given(st.text(max_size=30))
    def test_anything_parses_or_says_why(self, text):
        try:
            n = quota.parse_size(text)
        except ValueError as e:
            self.assertTrue(str(e))
        else:
            self.assertGreaterEqual(n, 0)

    def test_option(self):
        self.assertEqual(quota.parse_option("lab/photos=50GB"), ("lab/photos", 50 * 10**9))
        self.assertEqual(quota.parse_option("a=b=1 KiB"), ("a=b", 1024))
        for bad in ["50GB", "=50GB", "lab=", "lab=lots"]:
            self.assertRaises(ValueError, quota.parse_option, bad)

    def test_format(self):
        self.assertEqual(quota.format_size(0), "0 bytes")
        self.assertEqual(quota.format_size(1), "1 byte")
        self.assertEqual(quota.format_size(1500), "1.5 kB")
        self.assertEqual(quota.format_size(50 * 10**9), "50 GB")
        self.assertEqual(quota.format_size(1_234_567), "1.23 MB")


class DecisionTests(unittest.TestCase):
    def test_no_quota(self):
        self.assertIsNone(quota.refusal(None, 10**20, 10**20))

    def test_fits_exactly(self):
        self.assertIsNone(quota.refusal(100, 60, 40))

    def test_over(self):
        why = quota.refusal(100, 60, 41)
        self.assertEqual(why, "over quota: the repository stores 60 bytes of its 100 bytes quota; 41 bytes more does not fit")

    def test_sizeless_key(self):
        self.assertIsNone(quota.refusal(100, 99, None))
        self.assertIn("over quota", quota.refusal(100, 100, None))

    @given(st.integers(0, 10**15), st.integers(0, 10**15), st.integers(0, 10**15))
    def test_never_over(self, limit, used, size):
        why = quota.refusal(limit, used, size)
        self.assertEqual(why is None, used + size <= limit)

    def test_used_by(self):
        sizes = {b"a": 5, b"b": 7, b"client": 1000}
        self.assertEqual(quota.used_by(sizes, [b"a", b"b", b"a", b"c"]), 12)


class _Sizes(RepoSizes):
    """
    Repository sizes already counted.
    """

    def __init__(self, sizes):
        RepoSizes.__init__(self, Clock(), "/nonexistent")
        self._sizes = dict(sizes)


BIG = b"SHA256E-s600--84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882.bin"
SIZELESS = b"WORM-m1--file.bin"


class QuotaSessionTests(unittest.TestCase):
    """
    A session of a core with a quota (over the hand-over door: the same
    L{annexrelay.clientside.ClientSession} every door opens).
    """

    def pair(self, limit, stored):
        return RelayPair(frontdoor="handover", quota=limit, sizes=_Sizes({NODE_UUID: stored, b"someone-else": 10**9}))

    def test_over_quota_refused_before_the_node(self):
        p = self.pair(1000, 500)
        p.send(b"PUT f " + BIG + b"\n")
        self.assertEqual(
            p.take(), b"ERROR over quota: the repository stores 500 bytes of its 1 kB quota; 600 bytes more does not fit\n"
        )
        self.assertEqual(p.nodeGot(), b"")
        self.assertEqual(p.log.records, [])
        # The session goes on.
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")

    def test_under_quota_stored_and_counted(self):
        p = self.pair(1000, 395)
        p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        self.assertEqual(p.log.records, [(KEY, NODE_UUID, True)])
        self.assertEqual(p.sizes.known()[NODE_UUID], 405)
        # 405 + 600 > 1000 now.
        p.send(b"PUT f " + BIG + b"\n")
        self.assertIn(b"ERROR over quota: the repository stores 405 bytes", p.take())

    def test_removal_frees(self):
        p = self.pair(1000, 995)
        p.send(b"REMOVE " + KEY + b"\n")
        p.nodeGot()
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        self.assertEqual(p.sizes.known()[NODE_UUID], 985)

    def test_sizeless_key_while_under(self):
        p = self.pair(1000, 999)
        p.send(b"PUT f " + SIZELESS + b"\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + SIZELESS + b"\n")

    def test_no_quota_no_check(self):
        p = RelayPair(frontdoor="handover", sizes=_Sizes({NODE_UUID: 10**12}))
        p.send(b"PUT f " + BIG + b"\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + BIG + b"\n")

    def test_uploads_at_once_cannot_go_over_together(self):
        """
        An upload admitted and not over yet counts: two at once that each
        fit alone do not both get in.
        """
        p = self.pair(1000, 300)
        core = p.core
        self.assertIsNone(self.successResultOf(defer.ensureDeferred(core.quotaRefusal(BIG))))
        self.assertIn("over quota", self.successResultOf(defer.ensureDeferred(core.quotaRefusal(BIG))))
        core.quotaDone(BIG)
        self.assertIsNone(self.successResultOf(defer.ensureDeferred(core.quotaRefusal(BIG))))

    def test_reservation_released_when_the_put_ends(self):
        p = self.pair(1000, 300)
        p.send(b"PUT f " + BIG + b"\n")
        p.nodeGot()
        self.assertEqual(p.core._reserved, 600)
        # A small object: the client is told PUT-FROM 0 at once, and its
        # upload is dropped when the node turns out to have it.
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.nodeSays(b"ALREADY-HAVE\n")
        p.send(b"DATA 600\n" + b"x" * 600 + b"VALID\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        self.assertEqual(p.core._reserved, 0)
