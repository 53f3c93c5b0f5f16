"""
Differential: the same cluster, configuration and files, uploaded once
through git-annex's own gateway and once through annexrelay; the set of
nodes holding each key must be identical.
"""

import os

from tests.interop.test_interop import InteropCase

GIT_ANNEX = {"FAKE_SSH_SHELL": "git-annex-shell"}


class PlacementDifferentialTests(InteropCase):
    timeout = 600
    nodes = 4

    def setUp(self):
        InteropCase.setUp(self)
        self.clusterUUID = self.s.makeCluster("c1", ["n1", "n2", "n3", "n4"])

    def inGroup(self, wanted, *extra):
        """
        Every node in group g, all wanting C{wanted}, and C{extra} commands.
        """
        nodes = ("n1", "n2", "n3", "n4")
        self.configure([("group", n, "g") for n in nodes] + [("wanted", n, wanted) for n in nodes] + list(extra))

    def configure(self, commands):
        for args in commands:
            self.s.git("annex", *args, cwd=self.s.proxy)
        self.annex("pull", "-q", "--no-content", "origin")

    def addFiles(self, names):
        for name in names:
            d = os.path.dirname(os.path.join(self.client, name))
            os.makedirs(d, exist_ok=True)
            self.s.addFile(self.client, name, ("content of %s\n" % name).encode() * 50)

    def holders(self, names):
        out = {}
        for name in names:
            k = self.key(name)
            out[name] = sorted(n for n in self.s.nodes if self.nodeHas(n, k))
        return out

    def compare(self, names, before=()):
        """
        Upload C{names} to the cluster through git-annex's gateway, note
        where each lands, remove them from every node, and upload them
        again through annexrelay.  C{before}: (remote, names) copied first
        each time, so copies= terms see holders.
        """
        results = []
        for env in (GIT_ANNEX, None):
            for remote, pre in before:
                self.annex("copy", "-q", "--to", remote, *pre, env=env)
            self.annex("copy", "-q", "--to", "origin-c1", *names, env=env)
            results.append(self.holders(names))
            self.annex("drop", "-q", "--force", "--from", "origin-c1", *names, env=env)
            for remote, pre in before:
                self.annex("drop", "-q", "--force", "--from", remote, *pre, env=env)
            self.assertEqual(self.holders(names), {n: [] for n in names})
        theirs, ours = results
        self.assertEqual(ours, theirs, "git-annex's gateway vs annexrelay")
        return ours

    def test_balanced(self):
        names = ["f%02d.txt" % i for i in range(10)]
        self.addFiles(names)
        self.inGroup("balanced=g:1")
        placed = self.compare(names)
        self.assertTrue(all(len(v) == 1 for v in placed.values()), placed)
        self.assertGreater(len({v[0] for v in placed.values()}), 1, "spread over nodes")
        self.configure([("wanted", n, "balanced=g:2") for n in ("n1", "n2", "n3", "n4")])
        placed = self.compare(names)
        self.assertTrue(all(len(v) == 2 for v in placed.values()), placed)

    def test_standard_groups(self):
        names = ["a.txt", "archive/b.txt", "sub/archive/c.txt", "d.jpg"]
        self.addFiles(names)
        self.configure(
            [
                ("group", "n1", "archive"),
                ("group", "n2", "backup"),
                ("group", "n3", "client"),
                ("group", "n4", "backup"),
                ("group", "n4", "client"),
            ]
            + [("wanted", n, "standard") for n in ("n1", "n2", "n3", "n4")]
        )
        self.compare(names)

    def test_copies_trust_and_groups(self):
        names = ["x/one.txt", "x/two.txt", "y/three.txt"]
        self.addFiles(names)
        self.configure(
            [
                ("trust", "--force", "n1"),
                ("group", "n2", "g"),
                ("group", "n3", "g"),
                ("numcopies", "2"),
                ("wanted", "n2", "not copies=trusted:1"),
                ("wanted", "n3", "lackingcopies=1 and include=x/*"),
                ("wanted", "n4", "inallgroup=g or exclude=y/*"),
            ]
        )
        # One file is on the trusted node first.
        self.compare(names, before=[("origin-n1", ["x/one.txt"])])

    def test_metadata(self):
        names = ["a.txt", "b.txt", "c.txt", "d.txt"]
        self.addFiles(names)
        for name, fields in (("a.txt", ["author=joey"]), ("b.txt", ["year=2024"]), ("c.txt", ["year=1999", "author=bob"])):
            args = []
            for f in fields:
                args += ["-s", f]
            self.s.git("annex", "metadata", "--key", self.key(name), *args, cwd=self.s.proxy)
        self.configure(
            [
                ("wanted", "n1", "metadata=author=joey"),
                ("wanted", "n2", "metadata=year>2020"),
                ("wanted", "n3", "metadata=author=bob or metadata=year<2000"),
                ("wanted", "n4", "nothing"),
            ]
        )
        placed = self.compare(names)
        self.assertEqual(placed["a.txt"], ["n1"])
        self.assertEqual(placed["b.txt"], ["n2"])

    def test_inpreferreddir_and_securehash(self):
        names = ["public/a.txt", "x/public/b.txt", "public/sub/c.txt", "d.txt"]
        self.addFiles(names)
        self.configure(
            [
                ("wanted", "n1", "inpreferreddir"),
                ("wanted", "n2", "securehash and include=*/*"),
                ("wanted", "n3", "nothing"),
                ("wanted", "n4", "inbackend=WORM"),
            ]
        )
        self.compare(names)

    def test_balanced_with_a_full_node(self):
        """
        A node whose maxsize cannot take the files is never picked, by
        git-annex's gateway or by annexrelay.
        """
        names = ["m%02d.txt" % i for i in range(8)]
        self.addFiles(names)
        self.inGroup("balanced=g:1", ("maxsize", "n1", "500"))
        placed = self.compare(names)
        self.assertTrue(all(len(v) == 1 and v != ["n1"] for v in placed.values()), placed)

    def test_fullybalanced_two_with_a_full_node(self):
        names = ["p%02d.txt" % i for i in range(6)]
        self.addFiles(names)
        self.inGroup("fullybalanced=g:2", ("maxsize", "n3", "500"))
        placed = self.compare(names)
        self.assertTrue(all(len(v) == 2 and "n3" not in v for v in placed.values()), placed)

    def test_sizebalanced_exactly_n_never_full(self):
        """
        sizebalanced=g:N: annexrelay puts each key on exactly N nodes, never
        one the key does not fit in (what the documentation promises;
        git-annex's gateway, asking nodes one after another with live size
        updates, can put a key on more when their free proportions are
        close, as they are here, so this is not compared with it).
        """
        names = ["s%02d.txt" % i for i in range(4)]
        self.addFiles(names)
        self.inGroup("sizebalanced=g:1", ("maxsize", "n1", "500"), ("maxsize", "n2", "100000"), ("maxsize", "n3", "5000"), ("maxsize", "n4", "20000"))
        self.annex("copy", "-q", "--to", "origin-c1", *names)
        placed = self.holders(names)
        self.assertTrue(all(len(v) == 1 and v != ["n1"] for v in placed.values()), placed)

    def test_fullybalancedthreshhold(self):
        """
        annex.fullybalancedthreshhold set low, a node already holding
        content: where each key lands is still the same as through
        git-annex's gateway.
        """
        names = ["t%02d.txt" % i for i in range(8)]
        self.addFiles(names + ["filler.txt"])
        self.s.git("config", "annex.fullybalancedthreshhold", "0.01", cwd=self.s.proxy)
        self.inGroup("fullybalanced=g:1", *[("maxsize", n, "20000") for n in ("n1", "n2", "n3", "n4")])
        self.compare(names, before=[("origin-n1", ["filler.txt"])])

    def test_no_associated_file(self):
        """
        copy --key: the PUT has no associated file; include= and exclude=
        decide as git-annex's gateway does.
        """
        names = ["k1.txt", "k2.txt"]
        self.addFiles(names)
        self.configure(
            [
                ("wanted", "n1", "exclude=*.txt"),
                ("wanted", "n2", "include=*"),
                ("wanted", "n3", "nothing"),
                ("wanted", "n4", "nothing"),
            ]
        )
        results = []
        for env in (GIT_ANNEX, None):
            for name in names:
                self.annex("copy", "-q", "--to", "origin-c1", "--key", self.key(name), env=env)
            results.append(self.holders(names))
            self.annex("drop", "-q", "--force", "--from", "origin-c1", *names, env=env)
        self.assertEqual(results[1], results[0])
        self.assertEqual(results[1], {n: ["n1"] for n in names})

    def presentOn(self, key, *nodes):
        """
        Record in the gateway's location log that C{nodes} (names) hold
        C{key}; committed, as git-annex commits at the end of a command.
        """
        for node in nodes:
            self.s.git("annex", "setpresentkey", key, self.s.uuidOf(self.s.nodes[node]), "1", cwd=self.s.proxy)

    def test_sizebalanced_different_maxsizes(self):
        """
        sizebalanced=/fullysizebalanced= with different maxsizes: git-annex
        ranks by the proportion of the maxsize that is free, not by free
        bytes (n2 has the most bytes free, and is half full).
        """
        names = ["q%02d.txt" % i for i in range(6)]
        self.addFiles(names)
        used = {"n2": 500000, "n3": 20000, "n4": 190000}
        for i, (node, size) in enumerate(sorted(used.items())):
            self.presentOn("SHA256E-s%d--%064d.bin" % (size, i), node)
        maxsizes = {"n1": "100000", "n2": "1000000", "n3": "100000", "n4": "200000"}
        self.inGroup("sizebalanced=g:1", *[("maxsize", n, m) for n, m in sorted(maxsizes.items())])
        placed = self.compare(names)
        self.assertEqual(placed, {n: ["n1"] for n in names})
        self.configure([("wanted", n, "fullysizebalanced=g:2") for n in maxsizes])
        placed = self.compare(names)
        self.assertEqual(placed, {n: ["n1", "n3"] for n in names})

    def test_copies_with_untrusted_and_dead_holders(self):
        """
        copies= counts the holders that are not dead, untrusted ones
        included; copies=dead:N never holds; a dead member of a group keeps
        inallgroup= false.  The holders are repositories outside the
        cluster (h1 untrusted, h2 dead, h3 semitrusted), recorded in the
        gateway's location log.
        """
        for h in ("h1", "h2", "h3"):
            self.s.addNode(h, proxied=False)
        holders = {"a.txt": ["h2"], "b.txt": ["h1", "h2"], "c.txt": ["h1", "h3"], "d.txt": [], "e.txt": ["h2", "h3"]}
        names = sorted(holders)
        self.addFiles(names)
        for name, hs in holders.items():
            self.presentOn(self.key(name), *hs)
        self.configure(
            [
                ("untrust", "h1"),
                ("dead", "h2"),
                ("group", "h1", "grp"),
                ("group", "h2", "grp"),
                ("wanted", "n1", "copies=1"),
                ("wanted", "n2", "copies=dead:1 or (copies=untrusted:1 and copies=2)"),
                ("wanted", "n3", "copies=grp:1 and not copies=semitrusted+:1"),
                ("wanted", "n4", "not inallgroup=grp"),
            ]
        )
        placed = self.compare(names)
        self.assertEqual(
            placed,
            {"a.txt": ["n4"], "b.txt": ["n1", "n3", "n4"], "c.txt": ["n1", "n2", "n4"], "d.txt": ["n4"], "e.txt": ["n1", "n4"]},
        )

    def test_globs(self):
        """
        include=/exclude=/metadata= globs as git-annex matches them:
        POSIX classes, negation with ! and ^, ranges, * across /.
        """
        names = ["notes1.txt", "notesa.txt", "sub/Upper.txt", "sub/lower.txt", "x]y.txt", "2024/a.txt", "zz/b.dat", "a b.txt", "50%.txt"]
        self.addFiles(names)
        for name, tag in (("2024/a.txt", "2024x"), ("zz/b.dat", "Q9"), ("notesa.txt", "9")):
            self.s.git("annex", "metadata", "--key", self.key(name), "-s", "tag=" + tag, cwd=self.s.proxy)
        self.configure(
            [
                # The gateway sees "a b.txt" as "a_b.txt" (the protocol's
                # escaping of spaces), "50%.txt" as itself.
                ("wanted", "n1", "include=notes[[:digit:]].txt or include=*/[[:upper:]]* or include=a_b.txt"),
                ("wanted", "n2", "include=[!a-m]* and exclude=*.dat"),
                ("wanted", "n3", "include=*/[^[:lower:]]* or include=*%*"),
                ("wanted", "n4", "metadata=tag=[[:digit:]]*"),
            ]
        )
        placed = self.compare(names)
        # notes[[:digit:]].txt: a digit (or a backslash); [!a-m] and
        # [^[:lower:]] negate; nobody wants zz/b.dat, so every node gets it.
        self.assertEqual(
            placed,
            {
                "2024/a.txt": ["n2", "n4"],
                "50%.txt": ["n2", "n3"],
                "a b.txt": ["n1"],
                "notes1.txt": ["n1", "n2"],
                "notesa.txt": ["n2", "n4"],
                "sub/Upper.txt": ["n1", "n2", "n3"],
                "sub/lower.txt": ["n2"],
                "x]y.txt": ["n2"],
                "zz/b.dat": ["n1", "n2", "n3", "n4"],
            },
        )

    def test_expression_structure(self):
        """
        and/or/not and parentheses as git-annex's matcher reads them: left
        to right with no precedence, lenient about unclosed groups, and a
        group inside a group continuing from the term before it.
        """
        names = ["a.jpg", "x.png", "b.txt", "a.txt"]
        self.addFiles(names)
        self.configure(
            [
                ("wanted", "n1", "include=*.jpg or include=*.png and include=x*"),
                ("wanted", "n2", "(include=a*"),
                ("wanted", "n3", "include=b* ( nothing or include=*.txt )"),
                ("wanted", "n4", "( include=b* ( nothing or include=*.txt ) )"),
            ]
        )
        placed = self.compare(names)
        self.assertEqual(placed, {"a.jpg": ["n2"], "x.png": ["n1"], "b.txt": ["n3", "n4"], "a.txt": ["n2", "n4"]})
