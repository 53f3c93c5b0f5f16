"""
Tier 1: location log paths and updates, as pure functions; checked against
the examples git-annex itself produced (spec: branch-formats.md).
"""

from twisted.trial import unittest

from annexrelay.branch import locationlog as ll

U1 = b"05552970-1247-44c7-9e16-7a903abc3fc7"
U2 = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"


class PathTests(unittest.TestCase):
    def test_examples(self):
        cases = [
            (b"SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt",
             b"d91/b11/SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt.log"),
            (b"WORM-s3-m1700000000--a:b%c&d", b"58f/35a/WORM-s3-m1700000000--a&cb&sc&ad.log"),
            (b"URL--http&c%%example.com%a&b:c", b"a41/2a2/URL--http&ac&s&sexample.com&sa&ab&cc.log"),
        ]
        for key, path in cases:
            self.assertEqual(ll.log_path(key), path)

    def test_chunk_key_shares_the_directory(self):
        e3 = b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        self.assertEqual(ll.hashdirlower(b"SHA256E-s1048576-S262144-C2--" + e3 + b".bin"), b"d15/036/")

    def test_one_level(self):
        self.assertEqual(ll.hashdirlower(b"WORM-s3-m1700000000--a:b%c&d", onelevel=True), b"58f/")

    def test_journal_name(self):
        self.assertEqual(ll.journal_name(b"fc4/25e/SHA256E-s6--abc.txt.log"), b"fc4_25e_SHA256E-s6--abc.txt.log")
        self.assertEqual(ll.journal_name(b"a_b/c"), b"a__b_c")


class UpdateTests(unittest.TestCase):
    def test_new_file(self):
        self.assertEqual(ll.update(b"", {U1: True}, 1000), b"1000s 1 " + U1 + b"\n")

    def test_same_status_is_no_change(self):
        self.assertIsNone(ll.update(b"900s 1 " + U1 + b"\n", {U1: True}, 1000))

    def test_compacted_and_sorted(self):
        old = b"900s 1 " + U2 + b"\n800s 1 " + U1 + b"\n850s 0 " + U1 + b"\n"
        self.assertEqual(ll.update(old, {U1: True}, 1000), b"1000s 1 " + U1 + b"\n900s 1 " + U2 + b"\n")

    def test_not_newer_gets_old_plus_one(self):
        self.assertEqual(ll.update(b"2000s 1 " + U1 + b"\n", {U1: False}, 1000), b"2001s 0 " + U1 + b"\n")

    def test_fractional_and_unsuffixed_timestamps(self):
        old = b"1431286201.113452s 1 " + U1 + b"\n1431286300 0 " + U2 + b"\ngarbage\n"
        self.assertEqual(ll.holders(old), [U1])

    def test_tie_goes_to_later_line(self):
        self.assertEqual(ll.holders(b"1000s 1 " + U1 + b"\n1000s 0 " + U1 + b"\n"), [])
        self.assertEqual(ll.holders(b"1000s 0 " + U1 + b"\n1000s 1 " + U1 + b"\n"), [U1])

    def test_union_merge_example(self):
        """
        After a union merge both lines are there; the newer wins.
        """
        merged = b"1000s 1 " + U1 + b"\n2000s 0 " + U1 + b"\n"
        self.assertEqual(ll.holders(merged), [])


class RecordableTests(unittest.TestCase):
    """
    Which keys can have a location log; hostile ones are refused, never
    passed to git.
    """

    def test_ordinary_keys(self):
        for key in (
            b"SHA256E-s10--84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882.txt",
            b"WORM-s3-m1--a b",
            b"WORM-s3-m1--dir/..%&:x",
        ):
            self.assertIsNone(ll.unrecordable(key), key)

    def test_hostile_keys(self):
        self.assertEqual(ll.unrecordable(b"WORM-s3-m1--a\x00b"), "key contains a control character")
        self.assertEqual(ll.unrecordable(b"WORM-s3-m1--a\rb"), "key contains a control character")
        self.assertEqual(ll.unrecordable(b"WORM-s3-m1--" + b"x" * 300), "key is too long (312 bytes)")
        self.assertEqual(ll.unrecordable(b""), "empty key")


class CatFileHeaderTests(unittest.TestCase):
    def test_found_and_missing(self):
        from annexrelay.branch.git import cat_file_size, parse_cat_file

        self.assertEqual(cat_file_size(b"0123abcd blob 42"), 42)
        self.assertIsNone(cat_file_size(b"refs/heads/git-annex:abc/def/WORM-s3-m1--a b.log missing"))
        out = b"refs/heads/git-annex:x y.log missing\n" + b"0123 blob 3\nabc\n"
        self.assertEqual(parse_cat_file(out, 2), [None, (b"0123", b"abc")])

    def test_any_name(self):
        """
        Whatever the name (spaces, words like 'blob'), a missing object is
        read as missing, and the next object's content is found.
        """
        from hypothesis import given, strategies as st

        from annexrelay.branch.git import parse_cat_file

        @given(st.binary(min_size=1, max_size=300).filter(lambda b: b"\n" not in b), st.binary(max_size=100))
        def check(name, content):
            out = name + b" missing\n" + b"f00d blob %d\n" % len(content) + content + b"\n"
            self.assertEqual(parse_cat_file(out, 2), [None, (b"f00d", content)])

        check()
