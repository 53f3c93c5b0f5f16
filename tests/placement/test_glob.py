"""
Tier 1: git-annex's globs (include=, exclude=, metadata=), pure.

The expected answers are what git-annex 10.20261026 answers (checked with
C{git annex find --include=GLOB} and C{--metadata field=GLOB} on files with
these names and values).
"""

import fnmatch
import string

from twisted.trial import unittest

from annexrelay.placement.glob import GlobError, compile_glob, match_glob, wild_to_regex

NAMES = [
    "notes1.txt",
    "notesa.txt",
    "notes\\.txt",
    "notes].txt",
    "a.txt",
    "A.txt",
    "b.txt",
    "a/b.txt",
    "a/c/b.txt",
    "]",
    "-",
    "^",
    "foo",
    "<foo>",
    "ab",
    "a-b",
    "a\\b",
    "x]",
]


def matching(glob, names=NAMES, **kw):
    return sorted(n for n in names if match_glob(glob, n, **kw))


class GitAnnexAnswersTests(unittest.TestCase):
    """
    Each glob, and the names git-annex's find lists for it.
    """

    def test_posix_classes(self):
        # The glob's "]" after the class is escaped ("\]"), which the
        # bracket takes as a backslash and its end: digits or "\".
        self.assertEqual(wild_to_regex("notes[[:digit:]].txt"), "^notes[[:digit:]\\]\\.txt$")
        self.assertEqual(matching("notes[[:digit:]].txt"), ["notes1.txt", "notes\\.txt"])
        self.assertEqual(matching("notes[[:alpha:]].txt"), ["notes\\.txt", "notesa.txt"])
        self.assertEqual(matching("[[:upper:]]*"), ["A.txt"])
        self.assertEqual(matching("[[:nope:]]*"), [])
        self.assertEqual(matching("[[=a=]]*"), ["a-b", "a.txt", "a/b.txt", "a/c/b.txt", "a\\b", "ab"])

    def test_negation_both_ways(self):
        expected = ["-", "<foo>", "A.txt", "]", "^", "b.txt", "foo", "notes1.txt", "notes\\.txt", "notes].txt", "notesa.txt", "x]"]
        self.assertEqual(matching("[!a]*"), expected)
        self.assertEqual(matching("[^a]*"), expected)

    def test_star_and_slashes(self):
        self.assertEqual(matching("*b.txt"), ["a/b.txt", "a/c/b.txt", "b.txt"])
        self.assertEqual(matching("a/*.txt"), ["a/b.txt", "a/c/b.txt"])
        self.assertEqual(matching("a[/]b.txt"), ["a/b.txt"])
        self.assertEqual(matching("a//b.txt"), [])
        self.assertTrue(match_glob("a//b.txt", "a//b.txt"))
        self.assertEqual(matching("a?b"), ["a-b", "a\\b"])

    def test_brackets_and_backslashes(self):
        self.assertEqual(matching("[]]"), ["]"])
        self.assertTrue(match_glob("[]]", "\\"))
        self.assertEqual(matching("[]-]"), ["]"])
        self.assertEqual(matching("[]x]"), ["]"])
        self.assertEqual(matching("[a-]*"), ["-", "a-b", "a.txt", "a/b.txt", "a/c/b.txt", "a\\b", "ab"])
        self.assertEqual(matching("x]"), ["x]"])
        self.assertEqual(matching("a\\b"), ["a\\b"])
        self.assertEqual(matching("a\\\\b"), [])
        self.assertEqual(matching("notes[\\].txt"), ["notes\\.txt"])

    def test_word_anchors(self):
        # "<" and ">" become regex-tdfa's word boundaries.
        self.assertEqual(matching("<foo>"), ["foo"])

    def test_case(self):
        self.assertEqual(matching("A*"), ["A.txt"])
        # metadata=: case-insensitive, letters only.
        self.assertTrue(match_glob("J[a-z]*", "JOEY", case_sensitive=False, filepath=False))
        self.assertTrue(match_glob("[Z-a]", "z", case_sensitive=False, filepath=False))
        self.assertTrue(match_glob("[Z-a]", "_", case_sensitive=False, filepath=False))
        # A title case letter matches its upper and lower case, not itself.
        self.assertEqual(
            [v for v in ("\u01c4", "\u01c5", "\u01c6") if match_glob("\u01c5", v, case_sensitive=False, filepath=False)],
            ["\u01c4", "\u01c6"],
        )

    def test_what_regex_tdfa_cannot_compile(self):
        for glob in ["[]", "[!]", "[z-a]", "[abc", "*[/*", "a["]:
            self.assertRaises(GlobError, compile_glob, glob)

    def test_newlines(self):
        # Multiline regex: anchors match at a newline; "*" stops at one.
        self.assertTrue(match_glob("foo", "foo\nbar"))
        self.assertFalse(match_glob("f*r", "foo\nbar"))
        self.assertFalse(match_glob("foo?bar", "foo\nbar"))
        self.assertFalse(match_glob("foo[!x]bar", "foo\nbar"))


class GlobPropertyTests(unittest.TestCase):
    def test_plain_globs_are_fnmatch(self):
        """
        hypothesis: letters, digits, "*" and "?" mean what fnmatch says
        (on text without newlines, which "*" does not cross in git-annex).
        """
        from hypothesis import given, settings, strategies as st

        alphabet = st.sampled_from(list("abAB01*?"))
        values = st.text(alphabet=st.sampled_from(list("abAB01./- ")), max_size=8)

        @settings(max_examples=300, deadline=None)
        @given(st.text(alphabet=alphabet, min_size=1, max_size=6), values)
        def check(glob, value):
            self.assertEqual(match_glob(glob, value, filepath=False), fnmatch.fnmatchcase(value, glob))

        check()

    def test_literal_text_matches_itself(self):
        """
        hypothesis: text with no glob operator and none of the characters
        regex-tdfa turns into anchors (< > ` ') matches itself, file name
        or not.
        """
        from hypothesis import given, settings, strategies as st

        plain = st.characters(blacklist_characters="*?[<>`'\n", blacklist_categories=("Cs",))

        @settings(max_examples=300, deadline=None)
        @given(st.text(alphabet=plain, min_size=1, max_size=10), st.booleans())
        def check(text, filepath):
            self.assertTrue(match_glob(text, text, filepath=filepath))

        check()

    def test_negation(self):
        """
        hypothesis: C{[!S]} and C{[^S]} match exactly the single characters
        C{[S]} does not.
        """
        from hypothesis import given, settings, strategies as st

        chars = st.text(alphabet=st.sampled_from(string.ascii_letters + string.digits), min_size=1, max_size=5)

        @settings(max_examples=200, deadline=None)
        @given(chars, st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)))
        def check(members, c):
            inside = match_glob("[%s]" % members, c)
            self.assertEqual(match_glob("[!%s]" % members, c), not inside)
            self.assertEqual(match_glob("[^%s]" % members, c), not inside)

        check()

    def test_case_insensitive_ascii(self):
        """
        hypothesis: case-insensitive globs do not see ASCII case, in the
        glob or the value.
        """
        from hypothesis import given, settings, strategies as st

        glob = st.lists(st.sampled_from(list("abAB*?") + ["[a-c]", "[!B]"]), min_size=1, max_size=5).map("".join)
        value = st.text(alphabet=st.sampled_from(list("abcABC_")), max_size=6)

        @settings(max_examples=300, deadline=None)
        @given(glob, value)
        def check(g, v):
            expected = match_glob(g, v, case_sensitive=False, filepath=False)
            self.assertEqual(match_glob(g.swapcase(), v, case_sensitive=False, filepath=False), expected)
            self.assertEqual(match_glob(g, v.swapcase(), case_sensitive=False, filepath=False), expected)

        check()

    def test_never_another_error(self):
        """
        hypothesis: any glob either compiles or raises L{GlobError}.
        """
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=500, deadline=None)
        @given(st.text(alphabet=st.sampled_from(list("[]!^-:=.*?\\/{}()|+$<>`'a1")), max_size=10), st.booleans(), st.booleans())
        def check(glob, case, filepath):
            try:
                matcher = compile_glob(glob, case, filepath)
            except GlobError:
                return
            matcher("a1/b")

        check()
