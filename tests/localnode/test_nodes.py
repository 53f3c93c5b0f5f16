"""
Which nodes annexrelay writes itself: the decision per node, made once,
one LocalNode per repository (real git repositories, configured by hand).
"""

import os
import subprocess
import tempfile

from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.localnode.nodes import LocalNodes
from annexrelay.repo import Node

U1 = b"11111111-1ddd-4f1a-a22c-16b82487267f"
PROXY = b"e32ff237-9a8c-4d57-9207-7d0aa4bf916b"


class _Proxy:
    def __init__(self, path, uuid=PROXY):
        self.path = path
        self.gitDir = path
        self.uuid = uuid


class LocalNodesTests(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="annexrelay-nodes-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.base])
        self.proxy = _Proxy(self.base)

    def repo(self, name, bare=True, uuid=U1, **config):
        path = os.path.join(self.base, name)
        subprocess.run(["git", "init", "-q"] + (["--bare"] if bare else []) + [path], check=True)
        settings = {"annex.uuid": uuid.decode(), "annex.version": "10"}
        settings.update({k.replace("_", "."): v for k, v in config.items()})
        for k, v in settings.items():
            subprocess.run(["git", "config", "--file", os.path.join(path, "config" if bare else ".git/config"), k, v], check=True)
        return path

    def test_bare_node_written_directly(self):
        nodes = LocalNodes(Clock())
        self.repo("n1")
        local = nodes.forNode(Node("n1", U1, "n1"), self.proxy)
        self.assertIsNotNone(local)
        self.assertEqual(local.uuid, U1)
        self.assertEqual(local.senderUUID, PROXY)
        self.assertEqual(local.gitDir, os.path.realpath(os.path.join(self.base, "n1")).encode())
        self.assertIs(nodes.forNode(Node("n1", U1, os.path.join(self.base, "n1")), self.proxy), local)
        self.assertEqual(nodes.all(), [local])

    def test_left_to_git_annex(self):
        nodes = LocalNodes(Clock())
        self.repo("worktree", bare=False)
        self.assertIsNone(nodes.forNode(Node("w", U1, "worktree"), self.proxy))
        self.repo("shared", core_sharedRepository="group")
        self.assertIsNone(nodes.forNode(Node("s", U1, "shared"), self.proxy))
        self.assertEqual(
            sorted(nodes.refused.values()),
            ["core.sharedRepository is set (group modes)", "it is not a bare repository (a work tree's unlocked files need git-annex)"],
        )
        # Not local, special, or through another gateway: never.
        self.assertIsNone(nodes.forNode(Node("r", U1, "ssh://host/srv/n1"), self.proxy))
        self.assertIsNone(nodes.forNode(Node("sp", U1, "", special=True), self.proxy))
        self.assertIsNone(nodes.forNode(Node("v", U1, "n1", via=PROXY), self.proxy))

    def test_missing_node_asked_again(self):
        nodes = LocalNodes(Clock())
        self.assertIsNone(nodes.forNode(Node("n1", U1, "n1"), self.proxy))
        self.repo("n1")
        self.assertIsNotNone(nodes.forNode(Node("n1", U1, "n1"), self.proxy))

    def test_served_by_the_daemon(self):
        nodes = LocalNodes(Clock(), served=lambda path: path.startswith(os.path.realpath(self.base)))
        self.repo("n1")
        self.assertIsNone(nodes.forNode(Node("n1", U1, "n1"), self.proxy))
        self.assertIn("serves it as a repository", list(nodes.refused.values())[0])

    def test_the_repository_itself(self):
        nodes = LocalNodes(Clock())
        path = self.repo("proxy", uuid=PROXY)
        writer, reader = object(), object()
        local = nodes.forRepository(_Proxy(path), writer, reader)
        self.assertIs(local.records.writer, writer)
        self.assertIs(local.records.reader, reader)
        self.assertEqual(local.uuid, PROXY)
        self.assertIsNone(nodes.forRepository(_Proxy(self.repo("other", bare=False, uuid=PROXY)), writer, reader))
