"""
Where git-annex keeps things in a bare repository, and which repositories
annexrelay stores into itself (pure).
"""

from twisted.trial import unittest

from annexrelay.localnode import layout

# Seen in real repositories made by git-annex 10.20261026: the key, its
# lower-case hash directory (a bare repository's) and its mixed-case one
# (a repository with a work tree).
SEEN = [
    (b"SHA256E-s4097--73daf50769e017c3236f06d6df7811d49098c3d93594a6643084bf85ba93be89", b"2be/678/", None),
    (b"SHA256E-s3145728--93e36be7d12ba3465a975c2549cffc3913bf24d273a29a10416746d4d81c97a4", b"8e5/f23/", b"Pk/8Z/"),
    (b"SHA256E-s4097--1ff9602cd26713162c6f48b550269e7c5448629e4ccfa1b7f1eeb8bf4eacdc53", b"93e/b1d/", b"kp/7P/"),
    (b"SHA256E-s4097--e94ebc424200fc1a45ded7b996a028a78aa6e2a82082df9d02993632a16007cd", b"ed4/eb3/", b"Vx/jf/"),
]

UUID = "c3b14da6-1f84-4224-9094-1a9801d6ba37"


def config(**extra):
    c = {"core.bare": ["true"], "annex.uuid": [UUID], "annex.version": ["10"]}
    for name, value in extra.items():
        c[name.replace("_", ".").replace("..", "_")] = [value]
    return c


class PathsTests(unittest.TestCase):
    def test_hash_directories(self):
        for key, lower, mixed in SEEN:
            paths = layout.object_paths(b"/r", key)
            self.assertEqual(paths[0], b"/r/annex/objects/" + lower + key + b"/" + key)
            if mixed is not None:
                self.assertEqual(layout.hashdirmixed(key), mixed)
                self.assertEqual(paths[1], b"/r/annex/objects/" + mixed + key + b"/" + key)

    def test_escaped_key(self):
        key = b"URL--http&c%%example.org/a"
        kf = b"URL--http&ac&s&sexample.org%a"
        self.assertEqual(layout.tmp_path(b"/r", key), b"/r/annex/tmp/" + kf)
        self.assertTrue(layout.object_paths(b"/r", key)[0].endswith(b"/" + kf + b"/" + kf))

    def test_transfer_files(self):
        f = layout.transfer_files(b"/r", b"u-1", b"WORM-s1--x")
        self.assertEqual(f.lock, b"/r/annex/transfer/download/lck/lck.WORM-s1--x")
        self.assertEqual(f.uuidLock, b"/r/annex/transfer/download/u-1/lck.WORM-s1--x")


class RefusalTests(unittest.TestCase):
    def refusal(self, c):
        return layout.refusal(c, UUID.encode())

    def test_plain_bare_repository(self):
        self.assertIsNone(self.refusal(config()))
        self.assertIsNone(self.refusal(dict(config(), **{"core.bare": [""]})))
        self.assertIsNone(self.refusal(dict(config(), **{"core.sharedrepository": ["false"]})))

    def test_refused(self):
        cases = {
            "not a bare": dict(config(), **{"core.bare": ["false"]}),
            "annex.uuid": dict(config(), **{"annex.uuid": ["other"]}),
            "annex.version is 7": dict(config(), **{"annex.version": ["7"]}),
            "annex.version is unset": {"core.bare": ["true"], "annex.uuid": [UUID]},
            "core.sharedRepository": dict(config(), **{"core.sharedrepository": ["group"]}),
            "freezecontent": dict(config(), **{"annex.freezecontent-command": ["chattr +i %path"]}),
            "thawcontent": dict(config(), **{"annex.thawcontent-command": ["x"]}),
            "crippled": dict(config(), **{"annex.crippledfilesystem": ["true"]}),
            "securehashesonly": dict(config(), **{"annex.securehashesonly": ["true"]}),
            "annex.verify is false": dict(config(), **{"annex.verify": ["false"]}),
            "annex.tune.objecthash1": dict(config(), **{"annex.tune.objecthash1": ["true"]}),
            "annex.dbdir": dict(config(), **{"annex.dbdir": ["/tmp/db"]}),
        }
        for expected, c in cases.items():
            why = self.refusal(c)
            self.assertIsNotNone(why, expected)
            self.assertIn(expected, why)

    def test_disk_reserve(self):
        self.assertEqual(layout.disk_reserve({}), 100 * 1000 * 1000)
        self.assertEqual(layout.disk_reserve({"annex.diskreserve": ["1 GB"]}), 1000 * 1000 * 1000)
        self.assertEqual(layout.disk_reserve({"annex.diskreserve": ["0"]}), 0)
        self.assertEqual(layout.disk_reserve({"annex.diskreserve": ["lots"]}), 100 * 1000 * 1000)

# Checked against git annex examinekey's ${hashdirmixed} (10.20261026).

U = b"05552970-1247-44c7-9e16-7a903abc3fc7"
EMPTY = b"SHA256E-s0--e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class ExaminedPathTests(unittest.TestCase):
    def test_mixed_hash_directories(self):
        # git annex examinekey --format='${hashdirmixed}' (10.20261026)
        cases = [
            (EMPTY, b"pX/ZJ/"),
            (b"WORM-s5-m1796574277--w.txt", b"96/jJ/"),
            (b"URL--http&c%%example.com%file", b"kJ/JG/"),
            (b"SHA256E-s1048576-S65536-C2--aaaa", b"9J/gP/"),
        ]
        for key, mixed in cases:
            self.assertEqual(layout.hashdirmixed(key), mixed, key)

    def test_object_paths_lower_first(self):
        self.assertEqual(
            layout.object_paths(b"/r", EMPTY),
            [b"/r/annex/objects/f87/4d5/" + EMPTY + b"/" + EMPTY, b"/r/annex/objects/pX/ZJ/" + EMPTY + b"/" + EMPTY],
        )

    def test_tmp_and_transfer_files(self):
        key = b"WORM-s3-m1700000000--a/b"
        kf = b"WORM-s3-m1700000000--a%b"
        self.assertEqual(layout.tmp_path(b"/r", key), b"/r/annex/tmp/" + kf)
        self.assertEqual(
            layout.transfer_files(b"/r", U, key),
            (b"/r/annex/transfer/download/lck/lck." + kf, b"/r/annex/transfer/download/" + U + b"/lck." + kf),
        )
        self.assertEqual(layout.failed_transfer_file(b"/r", U, key), b"/r/annex/transfer/failed/download/" + U + b"/" + kf)


BARE = {"core.bare": ["true"], "annex.uuid": [U.decode()], "annex.version": ["10"]}


class RefusalWordsTests(unittest.TestCase):
    def refusal(self, **changes):
        config = dict(BARE)
        for name, value in changes.items():
            config[name.replace("_", ".")] = [value]
        return layout.refusal(config, U)

    def test_bare_repository_qualifies(self):
        self.assertIsNone(layout.refusal(BARE, U))
        self.assertIsNone(self.refusal(core_sharedrepository="false"))
        self.assertIsNone(self.refusal(annex_verify="true"))

    def test_refused(self):
        self.assertIn("not a bare repository", self.refusal(core_bare="false"))
        self.assertIn("annex.uuid", layout.refusal(BARE, b"other"))
        self.assertIn("annex.version is 7", self.refusal(annex_version="7"))
        self.assertIn("core.sharedRepository", self.refusal(core_sharedrepository="group"))
        self.assertIn("annex.verify is false", self.refusal(annex_verify="false"))
        self.assertIn("securehashesonly", self.refusal(annex_securehashesonly="true"))
        config = dict(BARE, **{"annex.tune.objecthash1": ["true"]})
        self.assertIn("annex.tune.objecthash1", layout.refusal(config, U))

    def test_disk_reserve(self):
        self.assertEqual(layout.disk_reserve({}), layout.DEFAULT_DISK_RESERVE)
        self.assertEqual(layout.disk_reserve({"annex.diskreserve": ["1 megabyte"]}), 1000000)
        self.assertEqual(layout.disk_reserve({"annex.diskreserve": ["lots"]}), layout.DEFAULT_DISK_RESERVE)
