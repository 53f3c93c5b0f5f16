"""
Tier 1: preferred content expressions, pure.
"""

from twisted.trial import unittest

from annexrelay.placement.expression import STANDARD, Expression, ParseError, Subject, balanced_pick, parse_size, wanting
from annexrelay.placement.values import size_balanced_pick

ME = b"me"
A = b"aaaa"
B = b"bbbb"
SRC = b"srcs"
GROUPS = {ME: {"backup"}, A: {"archive"}, B: {"client"}, SRC: {"source"}}


KEY = b"SHA256E-s1000--" + b"a" * 64 + b".jpg"


def subject(
    file="photos/a.jpg", size=1000, holders=(), me=ME, groupwanted=None, key=KEY, trust=None, numcopies=1, groups=None, metadata=None, sizes=None, maxsizes=None
):
    g = groups or GROUPS
    return Subject(
        file,
        size,
        frozenset(holders),
        lambda u: g.get(u, set()),
        me,
        groupwanted or (lambda x: None),
        key,
        lambda grp: frozenset(u for u, gs in g.items() if grp in gs),
        (lambda u: trust.get(u, 2)) if trust else (lambda u: 2),
        numcopies,
        metadata or {},
        "public",
        sizes or {},
        maxsizes or {},
    )


def wants(text, **kw):
    return Expression(text).wants(subject(**kw))


class ExpressionTests(unittest.TestCase):
    def test_anything_nothing(self):
        self.assertTrue(wants("anything"))
        self.assertFalse(wants("nothing"))
        self.assertTrue(wants(""))

    def test_include_exclude(self):
        self.assertTrue(wants("include=*.jpg"))
        self.assertFalse(wants("include=*.jpg", file="a.png"))
        self.assertTrue(wants("exclude=archive/*", file="photos/a.jpg"))
        self.assertFalse(wants("exclude=archive/*", file="archive/a.jpg"))
        self.assertFalse(wants("include=*", file=None))

    def test_sizes(self):
        self.assertTrue(wants("largerthan=999"))
        self.assertFalse(wants("largerthan=1kb"))
        self.assertTrue(wants("smallerthan=1kib"))
        self.assertFalse(wants("smallerthan=1mb", size=None))
        self.assertEqual(parse_size("1.5MiB"), 1572864)
        self.assertEqual(parse_size("2 gigabytes"), 2 * 10**9)
        self.assertRaises(ParseError, parse_size, "lots")

    def test_copies(self):
        self.assertFalse(wants("copies=1"))
        self.assertTrue(wants("copies=2", holders=[A, B]))
        self.assertTrue(wants("copies=archive:1", holders=[A]))
        self.assertFalse(wants("copies=archive:1", holders=[B]))

    def test_operators_and_precedence(self):
        self.assertTrue(wants("include=*.png or include=*.jpg"))
        self.assertFalse(wants("include=*.jpg and largerthan=1mb"))
        self.assertFalse(wants("include=*.jpg largerthan=1mb"))
        self.assertTrue(wants("not include=*.png"))
        self.assertTrue(wants("exclude=archive/* and (include=*.mp3 or smallerthan=1mb)"))
        self.assertFalse(wants("not (include=*.jpg or nothing)"))
        self.assertTrue(wants("nothing or include=*.jpg and anything"))

    def test_no_precedence(self):
        """
        git-annex's matcher (Utility/Matcher.hs generate) reads left to
        right: "a or b and c" is "(a or b) and c".
        """
        self.assertFalse(wants("include=*.jpg or nothing and nothing"))
        self.assertTrue(wants("nothing and nothing or include=*.jpg"))
        # At the top level a group after a term is and-ed to it; inside a
        # group it continues from it: "(a (b or c))" is "(a and b) or c".
        self.assertFalse(wants("include=*.png (nothing or include=*.jpg)"))
        self.assertTrue(wants("( include=*.png ( nothing or include=*.jpg ) )"))

    def test_lenient_structure(self):
        """
        What git-annex parses although it is malformed, and what it makes
        of it (git annex matchexpression): an unclosed group ends with the
        text, a stray ")" is ignored, a dangling operator takes "anything".
        """
        for text, wanted in [
            ("(include=*", True),
            ("((", True),
            ("and", True),
            (")", True),
            ("include=*.png or", True),
            ("include=*.png )", False),
            ("include=*.png or not", False),
            ("not", False),
            ("( include=*.png", False),
        ]:
            self.assertEqual(wants(text), wanted, text)
        # Unknown terms and bad values are still refused.
        for text in ["bogus", "include=* bogus", "copies=x and anything"]:
            self.assertRaises(ParseError, Expression, text)

    def test_standard_and_groupwanted(self):
        self.assertTrue(wants("standard"))  # backup: anything
        # source: "not (copies=1)"; client uses approxlackingcopies: wanted.
        self.assertTrue(wants("standard", me=SRC))
        self.assertFalse(wants("standard", me=SRC, holders=[A]))
        self.assertTrue(wants("standard", me=B))
        self.assertTrue(wants("groupwanted", groupwanted={"backup": "include=*.jpg"}.get))
        self.assertFalse(wants("groupwanted", file="x.png", groupwanted={"backup": "include=*.jpg"}.get))

    def test_every_term_is_evaluated(self):
        for text in ["sizebalanced=g:1", "fullysizebalanced=g", "inpreferreddir", "metadata=a=b", "unused"]:
            e = Expression(text)
            e.wants(subject())
            self.assertEqual(e.unknown, set(), text)

    def test_standard_table_parses(self):
        for text in STANDARD.values():
            Expression(text)


class WantingTests(unittest.TestCase):
    def test_wanting(self):
        exprs = {A: "include=*.jpg", B: "include=*.png", ME: None, b"x": "include=* bogus", b"y": "inallgroup=nosuchgroup", b"z": "bogus=1"}
        want, unknown = wanting(exprs, lambda u: subject(me=u, holders=[b"z"]))
        # As git-annex: an expression it cannot parse wants only what the
        # repository has (z has the key, x does not).
        self.assertEqual(sorted(want), sorted([A, ME, b"y", b"z"]))
        self.assertEqual(unknown, {b"x": {"unparsable expression"}, b"z": {"unparsable expression"}})


class TermTests(unittest.TestCase):
    """
    One test per term git-annex evaluates, against its documented meaning.
    """

    def test_present(self):
        self.assertTrue(wants("present", holders=[ME]))
        self.assertFalse(wants("present", holders=[A]))

    def test_copies_by_trust_level(self):
        trust = {A: 3, B: 1, SRC: 2}
        self.assertTrue(wants("copies=trusted:1", holders=[A], trust=trust))
        self.assertFalse(wants("copies=trusted:1", holders=[B, SRC], trust=trust))
        self.assertTrue(wants("copies=semitrusted+:2", holders=[A, SRC], trust=trust))
        self.assertFalse(wants("copies=semitrusted+:2", holders=[A, B], trust=trust))
        # A group named like a trust level is read as the trust level.
        groups = {A: {"trusted"}}
        self.assertFalse(wants("copies=trusted:1", holders=[A], groups=groups, trust={A: 2}))

    def test_lackingcopies(self):
        self.assertTrue(wants("lackingcopies=1", numcopies=2, holders=[A]))
        self.assertFalse(wants("lackingcopies=1", numcopies=2, holders=[A, B]))
        # Untrusted copies do not count.
        self.assertTrue(wants("approxlackingcopies=1", numcopies=2, holders=[A, B], trust={A: 2, B: 1}))

    def test_inallgroup_onlyingroup(self):
        self.assertTrue(wants("inallgroup=archive", holders=[A]))
        self.assertFalse(wants("inallgroup=client", holders=[A]))
        self.assertTrue(wants("inallgroup=nosuchgroup"))
        self.assertTrue(wants("onlyingroup=archive", holders=[A]))
        self.assertFalse(wants("onlyingroup=archive", holders=[A, B]))
        self.assertFalse(wants("onlyingroup=archive"))

    def test_securehash_inbackend(self):
        self.assertTrue(wants("securehash"))
        self.assertFalse(wants("securehash", key=b"WORM-s3-m1--a"))
        self.assertFalse(wants("securehash", key=b"SHA1-s3--" + b"a" * 40))
        self.assertTrue(wants("securehash", key=b"BLAKE2B256E-s3--" + b"a" * 64))
        self.assertTrue(wants("inbackend=SHA256E"))
        self.assertFalse(wants("inbackend=SHA256"))

    def test_unused_and_no_file(self):
        self.assertFalse(wants("unused"))
        # Without an associated file nothing is included or excluded.
        self.assertTrue(wants("exclude=*.png", file=None))

    def test_balanced_picker_is_git_annexs(self):
        """
        git-annex's own property (Annex/Balanced.hs prop_balanced_stable):
        500 UUIDs "1".."500", key WORM--test.
        """
        us = frozenset(str(i).encode() for i in range(1, 501))
        self.assertEqual(balanced_pick(us, us, b"WORM--test", 1), [b"332"])
        self.assertEqual(balanced_pick(us, us, b"WORM--test", 3), [b"332", b"333", b"334"])

    def test_balanced(self):
        groups = {ME: {"g"}, A: {"g"}, B: {"g"}}
        picked = balanced_pick(frozenset(groups), frozenset(groups), KEY, 1)[0]
        for u in groups:
            self.assertEqual(wants("balanced=g", me=u, groups=groups), u == picked)
            self.assertEqual(wants("fullybalanced=g:1", me=u, groups=groups), u == picked)
        # Enough copies in the group already: nobody else wants it; a
        # repository that has it still does.
        other = [u for u in groups if u != picked][0]
        self.assertFalse(wants("balanced=g", me=picked, groups=groups, holders=[other]))
        self.assertTrue(wants("balanced=g", me=other, groups=groups, holders=[other]))
        two = balanced_pick(frozenset(groups), frozenset(groups), KEY, 2)
        self.assertEqual(sorted(u for u in groups if wants("balanced=g:2", me=u, groups=groups)), sorted(two))

    def test_standard_needs_exactly_one_standard_group(self):
        # backup ("anything") and source together: not one standard group,
        # so only what it has.
        groups = {ME: {"backup", "source"}}
        self.assertFalse(wants("standard", groups=groups))
        self.assertTrue(wants("standard", groups=groups, holders=[ME]))
        # A group that is not standard does not count.
        self.assertTrue(wants("standard", groups={ME: {"backup", "mine"}}))

    def test_groupwanted_needs_exactly_one(self):
        gw = {"backup": "include=*.jpg", "other": "nothing"}.get
        self.assertTrue(wants("groupwanted", groupwanted=gw))
        self.assertFalse(wants("groupwanted", groupwanted=gw, groups={ME: {"backup", "other"}}))
        # groupwanted inside groupwanted: not expanded (present).
        self.assertFalse(wants("groupwanted", groupwanted={"backup": "groupwanted"}.get))

    def test_what_git_annex_cannot_parse(self):
        for text in ["bogus", "copies=x", "largerthan=lots", "balanced=g:0", "anything=1", "copies=a:b:1"]:
            self.assertRaises(ParseError, Expression, text)

    def test_metadata(self):
        md = {"author": {"Joey", "x y"}, "year": {"2024"}}
        self.assertTrue(wants("metadata=author=joey", metadata=md))
        self.assertTrue(wants("metadata=Author=J*", metadata=md))
        self.assertFalse(wants("metadata=author=bob", metadata=md))
        self.assertTrue(wants("metadata=year<2025", metadata=md))
        self.assertTrue(wants("metadata=year>=2024", metadata=md))
        self.assertFalse(wants("metadata=year>2024", metadata=md))
        self.assertFalse(wants("metadata=tag=*", metadata=md))
        self.assertRaises(ParseError, Expression, "metadata=-bad=x")

    def test_metadata_log(self):
        from annexrelay.branch import metadata

        log = b"1700000000s author +joey +!eCB5 year +2023\n1700000100s year -2023 +2024 author -joey\n"
        self.assertEqual(metadata.current(log), {"author": {"x y"}, "year": {"2024"}})

    def test_inpreferreddir(self):
        self.assertTrue(wants("inpreferreddir", file="public/a.txt"))
        self.assertTrue(wants("inpreferreddir", file="x/public/a.txt"))
        self.assertFalse(wants("inpreferreddir", file="public/sub/a.txt"))
        self.assertFalse(wants("inpreferreddir", file="a.txt"))
        self.assertFalse(wants("inpreferreddir", file=None))


class BalancedPropertyTests(unittest.TestCase):
    def test_spread_evenly(self):
        """
        hypothesis: over many keys, a balanced group of any size gives each
        key exactly N distinct members and every member its share.
        """
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=25, deadline=None)
        @given(st.integers(2, 8), st.integers(1, 3), st.integers(0, 2**32))
        def check(size, n, seed):
            group = frozenset(b"%08x-uuid-%d" % (seed, i) for i in range(size))
            n = min(n, size)
            counts = dict.fromkeys(group, 0)
            keys = 600
            for i in range(keys):
                picked = balanced_pick(group, group, b"SHA256E-s1--%d-%d" % (seed, i), n)
                self.assertEqual(len(set(picked)), n)
                for u in picked:
                    counts[u] += 1
            share = keys * n / size
            for c in counts.values():
                self.assertLess(abs(c - share), share * 0.35 + 10)

        check()

    def test_maxsize_and_sizebalanced(self):
        groups = {ME: {"g"}, A: {"g"}, B: {"g"}}
        full = {ME: 1000, A: 10**6, B: 10**6}
        sizes = {ME: 500, A: 2000, B: 900000}
        # ME cannot take a 1000-byte key: fullybalanced picks among A, B.
        for u in groups:
            w = wants("fullybalanced=g:1", me=u, groups=groups, size=1000)
            picked = Expression("fullybalanced=g:1").wants(
                Subject("f", 1000, frozenset(), lambda x: groups.get(x, set()), u, lambda g: None, KEY,
                        lambda g: frozenset(groups), lambda x: 2, 1, {}, "public", sizes, full))
            if u == ME:
                self.assertFalse(picked)
            del w
        # sizebalanced: the one with the most room (A), never the full one.
        def sb(u, n=1):
            return Expression("sizebalanced=g:%d" % n).wants(
                Subject("f", 1000, frozenset(), lambda x: groups.get(x, set()), u, lambda g: None, KEY,
                        lambda g: frozenset(groups), lambda x: 2, 1, {}, "public", sizes, full))
        self.assertEqual([u for u in groups if sb(u)], [A])
        self.assertEqual(sorted(u for u in groups if sb(u, 2)), sorted([A, B]))
        self.assertEqual(sorted(u for u in groups if sb(u, 3)), sorted([A, B]))

    def test_never_a_full_node(self):
        """
        hypothesis: whatever the sizes, balanced and sizebalanced never
        pick a node the key does not fit in.
        """
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=60, deadline=None)
        @given(st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 5000)), min_size=2, max_size=6), st.integers(1, 3), st.integers(1, 3000), st.sampled_from(["balanced", "sizebalanced", "fullybalanced"]))
        def check(repos, n, keysize, term):
            uuids = [b"u%d" % i for i in range(len(repos))]
            groups = {u: {"g"} for u in uuids}
            maxsizes = {u: m for u, (m, _) in zip(uuids, repos)}
            sizes = {u: used for u, (_, used) in zip(uuids, repos)}
            for u in uuids:
                subj = Subject("f", keysize, frozenset(), lambda x: groups.get(x, set()), u, lambda g: None, KEY,
                               lambda g: frozenset(uuids), lambda x: 2, 1, {}, "public", sizes, maxsizes)
                if Expression("%s=g:%d" % (term, n)).wants(subj):
                    self.assertLessEqual(sizes[u] + keysize, maxsizes[u])

        check()


DEAD, UNTRUSTED, SEMI, TRUSTED = range(4)


class CountingTests(unittest.TestCase):
    """
    copies=, inallgroup=, onlyingroup= count as git-annex's limitCopies
    (Limit.hs) counts: the location log's holders less the dead
    (Remote.keyLocations), untrusted ones included.
    """

    trust = {A: DEAD, B: UNTRUSTED, SRC: SEMI, ME: TRUSTED}

    def w(self, text, holders, **kw):
        return wants(text, holders=holders, trust=self.trust, **kw)

    def test_plain_copies(self):
        self.assertFalse(self.w("copies=1", [A]))
        self.assertTrue(self.w("copies=1", [B]))
        self.assertFalse(self.w("copies=2", [A, B]))
        self.assertTrue(self.w("copies=2", [B, SRC]))
        self.assertTrue(self.w("not copies=1", [A]))

    def test_by_trust_level(self):
        self.assertFalse(self.w("copies=dead:1", [A]))
        self.assertTrue(self.w("copies=dead:0", [A]))
        self.assertTrue(self.w("copies=untrusted:1", [A, B]))
        self.assertFalse(self.w("copies=untrusted:2", [A, B]))
        self.assertTrue(self.w("copies=semitrusted:1", [SRC]))
        self.assertFalse(self.w("copies=semitrusted:1", [A, B, ME]))
        self.assertTrue(self.w("copies=dead+:2", [A, B, SRC]))
        self.assertFalse(self.w("copies=dead+:3", [A, B, SRC]))
        self.assertFalse(self.w("copies=semitrusted+:2", [A, B, SRC]))

    def test_by_group(self):
        groups = {A: {"g"}, B: {"g"}, SRC: {"h"}}
        self.assertFalse(self.w("copies=g:1", [A], groups=groups))
        self.assertTrue(self.w("copies=g:1", [A, B], groups=groups))
        self.assertFalse(self.w("copies=g:2", [A, B], groups=groups))
        # A dead holder outside the group does not spoil onlyingroup=.
        self.assertTrue(self.w("onlyingroup=h", [A, SRC], groups=groups))
        # A dead member of the group is never counted as holding it.
        self.assertFalse(self.w("inallgroup=g", [A, B], groups=groups))
        # balanced: dead holders are not the group's copies.
        self.assertEqual(
            self.w("balanced=g", [A], groups={A: {"g"}, ME: {"g"}}, me=ME),
            ME in balanced_pick(frozenset([A, ME]), frozenset([A, ME]), KEY, 1),
        )


class SizeBalancedTests(unittest.TestCase):
    """
    sizebalanced=/fullysizebalanced= rank as git-annex's
    filterCandidatesFullySizeBalanced (Limit.hs): by the proportion of the
    maxsize that is free.
    """

    groups = {ME: {"g"}, A: {"g"}, B: {"g"}}

    def picked(self, text, sizes, maxsizes, holders=(), size=1000):
        return sorted(
            u
            for u in self.groups
            if u not in holders and wants(text, me=u, groups=self.groups, sizes=sizes, maxsizes=maxsizes, holders=holders, size=size)
        )

    def test_proportion_not_bytes(self):
        maxsizes = {A: 10000, B: 1000000, ME: 100000}
        sizes = {A: 0, B: 500000, ME: 25000}
        # A: all free, ME: 75%, B: half (but the most bytes).
        self.assertEqual(self.picked("sizebalanced=g:1", sizes, maxsizes), [A])
        self.assertEqual(self.picked("sizebalanced=g:2", sizes, maxsizes), sorted([A, ME]))
        self.assertEqual(self.picked("fullysizebalanced=g:1", sizes, maxsizes), [A])

    def test_ties_go_to_the_larger_uuid(self):
        maxsizes = {A: 10000, B: 20000, ME: 10000}
        sizes = {A: 5000, B: 10000, ME: 5000}
        self.assertEqual(self.picked("sizebalanced=g:1", sizes, maxsizes), [ME])
        self.assertEqual(self.picked("sizebalanced=g:2", sizes, maxsizes), sorted([ME, B]))
        self.assertEqual(size_balanced_pick(frozenset(self.groups), frozenset(), sizes, maxsizes, 1000, 3), [ME, B, A])

    def test_only_nodes_with_a_maxsize_and_room(self):
        # B has no maxsize, A no room for the key, ME a maxsize of 0.
        sizes = {A: 9500}
        self.assertEqual(self.picked("sizebalanced=g:3", sizes, {A: 10000}), [])
        self.assertEqual(self.picked("sizebalanced=g:3", sizes, {A: 10000, ME: 0}), [])
        self.assertEqual(self.picked("sizebalanced=g:3", {}, {A: 10000, ME: 5000}), sorted([A, ME]))

    def test_a_holder_counts_without_the_key(self):
        # A has the key: its free space counts the key's size back.
        maxsizes = {A: 10000, ME: 10000}
        sizes = {A: 6000, ME: 5500}
        self.assertEqual(size_balanced_pick(frozenset([A, ME]), frozenset([A]), sizes, maxsizes, 1000, 1), [A])
        self.assertEqual(self.picked("fullysizebalanced=g:1", sizes, maxsizes, holders=[A]), [])
        self.assertEqual(self.picked("fullysizebalanced=g:1", sizes, maxsizes), [ME])

    def test_a_holder_over_its_maxsize_is_no_candidate(self):
        """
        balanced: git-annex's repoHasSpace takes a repository that has the
        key only while it is within its maxsize.
        """
        members = frozenset(self.groups)
        for i in range(100):
            key = b"SHA256E-s1000--%064d" % i
            if balanced_pick(members, members, key, 1) == [A]:
                break
        expected = balanced_pick(members, frozenset([ME, B]), key, 1)
        got = [u for u in (ME, B) if wants("fullybalanced=g:1", me=u, key=key, groups=self.groups, holders=[A], sizes={A: 20000}, maxsizes={A: 10000})]
        self.assertEqual(got, expected)


class GlobTermTests(unittest.TestCase):
    def test_include_exclude_metadata_use_git_annexs_globs(self):
        self.assertTrue(wants("include=notes[[:digit:]].txt", file="notes1.txt"))
        self.assertFalse(wants("include=notes[[:digit:]].txt", file="notesa.txt"))
        self.assertTrue(wants("include=[^a]*", file="b/a.jpg"))
        self.assertFalse(wants("exclude=*[[:digit:]]*", file="x/2024/a.jpg"))
        self.assertTrue(wants("metadata=author=[[:alpha:]]*", metadata={"author": {"Joey"}}))
        self.assertTrue(wants("metadata=author=J[A-Z]EY", metadata={"author": {"joey"}}))

    def test_uncompilable_glob(self):
        """
        A glob git-annex cannot compile: when evaluation reaches it, the
        node wants only what it has (git-annex's gateway fails the PUT);
        when it does not, the expression decides as git-annex does.
        """
        exprs = {A: "include=[z-a]", B: "anything or include=[]", ME: "include=[abc", SRC: "metadata=tag=[z-a]"}
        want, unknown = wanting(exprs, lambda u: subject(me=u, holders=[ME]))
        self.assertEqual(sorted(want), sorted([B, ME]))
        self.assertEqual(unknown, {A: {"uncompilable glob"}, ME: {"uncompilable glob"}})
