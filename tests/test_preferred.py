"""
Tier 1: preferred content expressions, pure.
"""

from twisted.trial import unittest

from annexrelay.preferred import STANDARD, Expression, ParseError, Subject, parse_size, wanting

ME = b"me"
A = b"aaaa"
B = b"bbbb"
SRC = b"srcs"
GROUPS = {ME: {"backup"}, A: {"archive"}, B: {"client"}, SRC: {"source"}}


def subject(file="photos/a.jpg", size=1000, holders=(), me=ME, groupwanted=None):
    return Subject(file, size, frozenset(holders), lambda u: GROUPS.get(u, set()), me, groupwanted or (lambda g: None))


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

    def test_syntax_errors(self):
        for text in ["(include=*", "and", "include=* or", "include=* )"]:
            self.assertRaises(ParseError, Expression, text)

    def test_standard_and_groupwanted(self):
        self.assertTrue(wants("standard"))  # backup: anything
        # source: "not (copies=1)"; client uses approxlackingcopies: wanted.
        self.assertTrue(wants("standard", me=SRC))
        self.assertFalse(wants("standard", me=SRC, holders=[A]))
        self.assertTrue(wants("standard", me=B))
        self.assertTrue(wants("groupwanted", groupwanted={"backup": "include=*.jpg"}.get))
        self.assertFalse(wants("groupwanted", file="x.png", groupwanted={"backup": "include=*.jpg"}.get))

    def test_unknown_terms_count_as_wanting(self):
        e = Expression("present and nothing")
        self.assertTrue(e.wants(subject()))
        self.assertEqual(e.unknown, {"present"})

    def test_standard_table_parses(self):
        for text in STANDARD.values():
            Expression(text)


class WantingTests(unittest.TestCase):
    def test_wanting(self):
        exprs = {A: "include=*.jpg", B: "include=*.png", ME: None, b"x": "((", b"y": "inpreferreddir"}
        want, unknown = wanting(exprs, lambda u: subject(me=u))
        self.assertEqual(sorted(want), sorted([A, ME, b"x", b"y"]))
        self.assertEqual(unknown, {b"x": {"unparsable expression"}, b"y": {"inpreferreddir"}})
