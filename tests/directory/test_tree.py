"""
The --directory index as pure data: path -> repository, nested
repositories, UUIDs served by several repositories.
"""

from twisted.trial import unittest

from annexrelay.directory.tree import BARE, WORK, Entry, RepoIndex, classify, split_scope, subdirectories


class SplitScopeTests(unittest.TestCase):
    def test_unscoped(self):
        self.assertEqual(split_scope(b"/git-annex/U/v4/checkpresent"), ((), b"/git-annex/U/v4/checkpresent"))
        self.assertEqual(split_scope(b"/git-annex/U/key/K"), ((), b"/git-annex/U/key/K"))

    def test_scoped(self):
        self.assertEqual(split_scope(b"/a/b.git/git-annex/U/v4/key/K"), ((b"a", b"b.git"), b"/git-annex/U/v4/key/K"))
        self.assertEqual(split_scope(b"/a/git-annex/U/v4/checkpresent/"), ((b"a",), b"/git-annex/U/v4/checkpresent/"))

    def test_repository_with_a_git_annex_folder(self):
        self.assertEqual(
            split_scope(b"/x/git-annex/y/git-annex/U/v4/remove"), ((b"x", b"git-annex", b"y"), b"/git-annex/U/v4/remove")
        )

    def test_scope_is_percent_decoded_after_splitting(self):
        self.assertEqual(split_scope(b"/my%20repo/a%2Fb/git-annex/U/v4/remove")[0], (b"my repo", b"a/b"))

    def test_no_route_shape_is_left_to_the_router(self):
        self.assertEqual(split_scope(b"/a/b"), ((), b"/a/b"))
        self.assertEqual(split_scope(b"/a/git-annex/U"), ((), b"/a/git-annex/U"))


class ClassifyTests(unittest.TestCase):
    def test_kinds(self):
        self.assertEqual(classify({b".git": True, b"sub": True}), WORK)
        self.assertEqual(classify({b".git": False}), WORK)  # a gitdir file
        self.assertEqual(classify({b"HEAD": False, b"objects": True, b"refs": True, b"config": False}), BARE)
        self.assertIsNone(classify({b"HEAD": False, b"objects": False, b"refs": True}))
        self.assertIsNone(classify({b"a": True}))

    def test_subdirectories(self):
        entries = {b".git": True, b"b": True, b"a": True, b"f": False}
        self.assertEqual(subdirectories(WORK, entries), (b"a", b"b"))
        self.assertEqual(subdirectories(BARE, {b"objects": True, b"refs": True}), ())
        self.assertEqual(subdirectories(None, {b"x": True}), (b"x",))


def entry(rel, uuid, *proxied):
    return Entry(tuple(rel), uuid, frozenset((uuid,) + proxied))


class RepoIndexTests(unittest.TestCase):
    def test_path_lookup_nested(self):
        index = RepoIndex()
        index.put(entry([b"a"], b"ua"))
        index.put(entry([b"a", b"b"], b"ub"))
        self.assertEqual(index.at((b"a",)).uuid, b"ua")
        self.assertEqual(index.at((b"a", b"b")).uuid, b"ub")
        self.assertIsNone(index.at((b"b",)))
        self.assertIsNone(index.at(()))

    def test_scope_with_the_clients_git_annex(self):
        index = RepoIndex()
        index.put(entry([b"a"], b"ua"))
        index.put(entry([b"b", b"git-annex"], b"ubg"))
        index.put(entry([b"b"], b"ub"))
        self.assertEqual(index.at((b"a", b"git-annex")).uuid, b"ua")
        self.assertEqual(index.at((b"b", b"git-annex")).uuid, b"ubg")
        self.assertEqual(split_scope(b"/a/git-annex/git-annex/U/v4/remove")[0], (b"a", b"git-annex"))

    def test_plain_git_repository_is_not_served(self):
        index = RepoIndex()
        index.put(Entry((b"g",), b"", frozenset()))
        self.assertIsNone(index.at((b"g",)))

    def test_uuid_lookup_prefers_own_then_path_order(self):
        index = RepoIndex()
        index.put(entry([b"z"], b"uz", b"node"))
        index.put(entry([b"m"], b"um", b"node", b"uz"))
        self.assertEqual(index.serving(b"node").rel, (b"m",))
        self.assertEqual(index.serving(b"uz").rel, (b"z",))
        self.assertIsNone(index.serving(b"other"))

    def test_repository_appearing_later_and_going(self):
        index = RepoIndex()
        index.put(entry([b"a"], b"ua"))
        self.assertIsNone(index.serving(b"ub"))
        index.put(entry([b"d", b"b"], b"ub", b"node"))
        self.assertEqual(index.serving(b"node").rel, (b"d", b"b"))
        index.removeBelow((b"d",))
        self.assertIsNone(index.serving(b"node"))
        self.assertIsNone(index.at((b"d", b"b")))
        self.assertEqual(len(index), 1)

    def test_put_again_replaces_served_uuids(self):
        index = RepoIndex()
        index.put(entry([b"a"], b"ua", b"n1"))
        index.put(entry([b"a"], b"ua", b"n2"))
        self.assertIsNone(index.serving(b"n1"))
        self.assertEqual(index.serving(b"n2").rel, (b"a",))
