"""
Where git-annex keeps things in a bare repository's annex, and which
repositories annexrelay writes itself; the hash directories checked
against C{git annex examinekey}'s output.
"""

from twisted.trial import unittest

from annexrelay.localnode import layout

U = b"05552970-1247-44c7-9e16-7a903abc3fc7"
EMPTY = b"SHA256E-s0--e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class PathTests(unittest.TestCase):
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


class RefusalTests(unittest.TestCase):
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
