"""
Tier 1: the message codec, as pure functions.
"""

from twisted.trial import unittest

from annexrelay.p2p import messages
from annexrelay.p2p.messages import GRAMMAR, Message, Unparsable, format, parse

KEY = b"SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt"
U1 = b"02d65f2e-058e-42f3-9102-4cf5061d71cf"
U2 = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"


class RoundTripTests(unittest.TestCase):
    """
    Every message of every version formats to the bytes git-annex sends and
    parses back to itself.
    """

    samples = [
        (b"AUTH " + U1 + b" abc123", Message("AUTH", (U1, b"abc123"))),
        (b"AUTH-SUCCESS " + U1, Message("AUTH-SUCCESS", (U1,))),
        (b"AUTH-FAILURE", Message("AUTH-FAILURE")),
        (b"VERSION 4", Message("VERSION", (4,))),
        (b"BYPASS " + U1 + b" " + U2, Message("BYPASS", ((U1, U2),))),
        (b"CHECKPRESENT " + KEY, Message("CHECKPRESENT", (KEY,))),
        (b"LOCKCONTENT " + KEY, Message("LOCKCONTENT", (KEY,))),
        (b"UNLOCKCONTENT", Message("UNLOCKCONTENT")),
        (b"REMOVE " + KEY, Message("REMOVE", (KEY,))),
        (b"REMOVE-BEFORE 1646 " + KEY, Message("REMOVE-BEFORE", (1646, KEY))),
        (b"GETTIMESTAMP", Message("GETTIMESTAMP")),
        (b"TIMESTAMP 1047", Message("TIMESTAMP", (1047,))),
        (b"GET 0 one.txt " + KEY, Message("GET", (0, b"one.txt", KEY))),
        (b"GET 0  " + KEY, Message("GET", (0, b"", KEY))),
        (b"PUT one.txt " + KEY, Message("PUT", (b"one.txt", KEY))),
        (b"PUT  " + KEY, Message("PUT", (b"", KEY))),
        (b"PUT-FROM 10", Message("PUT-FROM", (10,))),
        (b"ALREADY-HAVE", Message("ALREADY-HAVE")),
        (b"ALREADY-HAVE-PLUS " + U1, Message("ALREADY-HAVE-PLUS", ((U1,),))),
        (b"DATA 10", Message("DATA", (10,))),
        (b"DATA-PRESENT", Message("DATA-PRESENT")),
        (b"VALID", Message("VALID")),
        (b"INVALID", Message("INVALID")),
        (b"SUCCESS", Message("SUCCESS")),
        (b"FAILURE", Message("FAILURE")),
        (b"SUCCESS-PLUS " + U1 + b" " + U2, Message("SUCCESS-PLUS", ((U1, U2),))),
        (b"FAILURE-PLUS " + U2, Message("FAILURE-PLUS", ((U2,),))),
        (b"CONNECT git-upload-pack", Message("CONNECT", (b"git-upload-pack",))),
        (b"CONNECTDONE 0", Message("CONNECTDONE", (0,))),
        (b"NOTIFYCHANGE", Message("NOTIFYCHANGE")),
        (b"CHANGED " + U1, Message("CHANGED", ((U1,),))),
        (b"ERROR expected DATA", Message("ERROR", (b"expected DATA",))),
    ]

    def test_every_message_is_covered(self):
        self.assertEqual({m.name for _, m in self.samples}, set(GRAMMAR))

    def test_parse(self):
        for line, msg in self.samples:
            self.assertEqual(parse(line), msg, line)

    def test_format(self):
        for line, msg in self.samples:
            self.assertEqual(format(msg), line + b"\n")

    def test_crlf(self):
        self.assertEqual(parse(b"VERSION 4\r"), Message("VERSION", (4,)))


class FieldTests(unittest.TestCase):
    def test_key_with_spaces_takes_the_rest(self):
        key = b"WORM-s3-m1700000000--a b  c"
        self.assertEqual(parse(b"CHECKPRESENT " + key), Message("CHECKPRESENT", (key,)))
        self.assertEqual(parse(b"GET 3 f " + key).args, (3, b"f", key))

    def test_af_token_is_kept_verbatim(self):
        """
        The associated file is forwarded byte for byte, never decoded.
        """
        af = b"my%file%100%%.txt"
        msg = parse(b"PUT " + af + b" " + KEY)
        self.assertEqual(msg.args[0], af)
        self.assertEqual(format(msg), b"PUT " + af + b" " + KEY + b"\n")
        raw = b"\xff\xfe%%x"
        self.assertEqual(format(parse(b"PUT " + raw + b" " + KEY)), b"PUT " + raw + b" " + KEY + b"\n")

    def test_lenient_numbers(self):
        """
        Numbers are read like git-annex reads them.
        """
        self.assertEqual(parse(b"VERSION 3x").args, (3,))
        self.assertEqual(parse(b"VERSION  2").args, (2,))
        self.assertEqual(parse(b"VERSION 4 x").args, (4,))
        self.assertEqual(parse(b"GET 00002 f " + KEY).args[0], 2)
        self.assertEqual(parse(b"VERSION -1").args, (-1,))

    def test_unparsable(self):
        for line in [
            b"",
            b"FOO",
            b"checkpresent " + KEY,
            b"VERSION +1",
            b"VERSION x",
            b"UNLOCKCONTENT " + KEY,
            b"SUCCESS  ",
            b"PUT " + KEY,
            b"PUT /etc/passwd " + KEY,
            b"CHECKPRESENT notakey",
            b"CHECKPRESENT SHA256E-s6x--abc",
            b"GET x f " + KEY,
            b"CONNECT git-foo",
            b"AUTH-SUCCESS",
        ]:
            self.assertIsInstance(parse(line), Unparsable, line)

    def test_single_trailing_space_after_word(self):
        self.assertEqual(parse(b"SUCCESS "), Message("SUCCESS"))

    def test_empty_bypass(self):
        self.assertEqual(parse(b"BYPASS"), Message("BYPASS", ((),)))

    def test_keys_with_fields(self):
        key = b"SHA256E-s1048576-S262144-C2--e3b0.bin"
        self.assertEqual(parse(b"CHECKPRESENT " + key).args, (key,))

    def test_format_checks_arity(self):
        self.assertRaises(ValueError, format, Message("PUT", (b"x",)))


class HelperTests(unittest.TestCase):
    def test_plus_or_plain(self):
        self.assertEqual(messages.plus_or_plain("SUCCESS", [U1], 2), Message("SUCCESS-PLUS", ((U1,),)))
        self.assertEqual(messages.plus_or_plain("SUCCESS", [U1], 1), Message("SUCCESS"))
        self.assertEqual(messages.plus_or_plain("SUCCESS", [], 4), Message("SUCCESS"))

    def test_versions(self):
        self.assertEqual(messages.min_version("DATA-PRESENT"), 4)
        self.assertEqual(messages.min_version("REMOVE-BEFORE"), 3)
        self.assertEqual(messages.min_version("BYPASS"), 2)
        self.assertEqual(messages.min_version("VALID"), 1)

    def test_error_texts(self):
        self.assertEqual(format(messages.UNKNOWN_COMMAND), b"ERROR unknown command\n")
        self.assertEqual(format(messages.READ_ONLY), b"ERROR this repository is read-only; write access denied\n")
        self.assertEqual(format(messages.APPEND_ONLY), b"ERROR this repository is append-only; removal denied\n")
        self.assertEqual(format(messages.error("a\nb")), b"ERROR a b\n")


class PropertyTests(unittest.TestCase):
    """
    hypothesis: any line parses to a message or to Unparsable, never an
    exception; a parsed message formats back to a line that parses to it.
    """

    def test_any_line(self):
        from hypothesis import given, settings, strategies as st

        words = st.sampled_from(sorted(GRAMMAR)).map(lambda w: w.encode())
        fields = st.lists(
            st.one_of(st.binary(max_size=30), st.integers(-(2**70), 2**70).map(lambda i: str(i).encode()), st.just(KEY)),
            max_size=4,
        )
        lines = st.one_of(
            st.binary(max_size=100), st.tuples(words, fields).map(lambda t: b" ".join([t[0]] + t[1]))
        ).map(lambda b: b.replace(b"\n", b""))

        @settings(max_examples=2000, deadline=None)
        @given(lines)
        def check(line):
            msg = parse(line)
            self.assertIsInstance(msg, (Message, Unparsable))
            if isinstance(msg, Message):
                out = format(msg)
                self.assertTrue(out.endswith(b"\n"))
                self.assertNotIn(b"\n", out[:-1])
                self.assertEqual(parse(out[:-1]), msg)

        check()
