"""
Checking content against its key as git-annex's backends do (pure, with
hypothesis).  tests/interop/test_calckey.py checks the same keys against
the ones git-annex itself computes.
"""

import hashlib

from hypothesis import given, strategies as st
from twisted.trial import unittest

from annexrelay.localnode import verify

HASHERS = {
    b"MD5": lambda: hashlib.md5(),
    b"SHA1": lambda: hashlib.sha1(),
    b"SHA256": lambda: hashlib.sha256(),
    b"SHA512": lambda: hashlib.sha512(),
    b"SHA3_256": lambda: hashlib.sha3_256(),
    b"BLAKE2B256": lambda: hashlib.blake2b(digest_size=32),
    b"BLAKE2S160": lambda: hashlib.blake2s(digest_size=20),
}


def key_of(content, variety, extension=b".txt"):
    base = variety[:-1] if variety.endswith(b"E") and variety[:-1] in HASHERS else variety
    h = HASHERS[base]()
    h.update(content)
    name = h.hexdigest().encode() + (extension if base != variety else b"")
    return b"%s-s%d--%s" % (variety, len(content), name)


def check(key, content):
    c = verify.check_for(key)
    h = c.hasher() if c.hasher is not None else None
    if h is not None:
        h.update(content)
    return verify.matches(c, len(content), h.hexdigest().encode() if h is not None else None)


class VerifyTests(unittest.TestCase):
    def test_varieties(self):
        self.assertEqual(verify.check_for(b"SHA256E-s3--abc.tar.gz").digest, b"abc")
        self.assertEqual(verify.check_for(b"SHA256-s3--abc.x").digest, b"abc.x")
        self.assertEqual(verify.check_for(b"BLAKE2B256E-s1--ff").hasher().digest_size, 32)
        self.assertEqual(verify.check_for(b"BLAKE2S160-s1--ff").hasher().digest_size, 20)
        worm = verify.check_for(b"WORM-s5-m1700000000--notes.txt")
        self.assertIsNone(worm.hasher)
        self.assertEqual(worm.size, 5)
        self.assertIsNone(verify.check_for(b"URL--http&c%%x").size)

    def test_unsupported(self):
        for key in [b"SKEIN256E-s1--ab", b"BLAKE2BP512E-s1--ab", b"VURL--x", b"GITBUNDLE--u-x", b"XYZ-s1--a", b"SHA256E-s1"]:
            self.assertTrue(verify.unsupported(key), key)

    @given(st.binary(max_size=4096), st.sampled_from(sorted(HASHERS)), st.booleans())
    def test_right_content_matches(self, content, variety, withExtension):
        key = key_of(content, variety + (b"E" if withExtension else b""))
        self.assertTrue(check(key, content))

    @given(st.binary(min_size=1, max_size=4096), st.sampled_from(sorted(HASHERS)))
    def test_other_content_does_not(self, content, variety):
        key = key_of(content, variety + b"E")
        changed = bytes([content[0] ^ 1]) + content[1:]
        self.assertFalse(check(key, changed))
        self.assertFalse(check(key, content + b"x"))

    def test_size_only(self):
        self.assertTrue(check(b"WORM-s5-m1--a", b"12345"))
        self.assertFalse(check(b"WORM-s5-m1--a", b"1234"))
        self.assertTrue(check(b"URL--http&c%%x", b"anything"))
