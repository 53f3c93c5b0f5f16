"""
The keys git-annex computes for a file (C{git annex calckey}, every
backend annexrelay checks itself under --local-store) are checked by
L{annexrelay.localnode.verify} as matching that content, and not another;
the backends it leaves to git-annex are the ones it says it cannot check.
"""

import os
import subprocess
import tempfile

from twisted.trial import unittest

from annexrelay.localnode import verify
from annexrelay.testing.lab import git_env

CHECKED = [
    "MD5", "MD5E", "SHA1", "SHA1E", "SHA224E", "SHA256", "SHA256E", "SHA384E", "SHA512", "SHA512E",
    "SHA3_224E", "SHA3_256", "SHA3_256E", "SHA3_384E", "SHA3_512E",
    "BLAKE2B160E", "BLAKE2B224E", "BLAKE2B256", "BLAKE2B256E", "BLAKE2B384E", "BLAKE2B512E",
    "BLAKE2S160E", "BLAKE2S224E", "BLAKE2S256E", "WORM",
]
LEFT_TO_GIT_ANNEX = ["SKEIN256E", "SKEIN512E", "BLAKE2BP512E", "BLAKE2SP224E", "BLAKE2SP256E"]


def digest_of(check, content):
    if check.hasher is None:
        return None
    h = check.hasher()
    h.update(content)
    return h.hexdigest().encode()


class CalckeyTests(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="annexrelay-calckey-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.base])
        self.env = git_env(os.path.join(self.base, "bin"))
        subprocess.run(["git", "init", "-q", self.base], check=True, env=self.env)
        subprocess.run(["git", "annex", "init", "-q"], cwd=self.base, check=True, env=self.env)
        self.content = os.urandom(3000) + b"calckey"
        with open(os.path.join(self.base, "data.tar.gz"), "wb") as f:
            f.write(self.content)

    def calckey(self, backend):
        out = subprocess.run(
            ["git", "annex", "calckey", "--backend=" + backend, "data.tar.gz"],
            cwd=self.base, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
        )
        return out.stdout.strip()

    def test_checked(self):
        for backend in CHECKED:
            key = self.calckey(backend)
            check = verify.check_for(key)
            self.assertIsNotNone(check, key)
            self.assertTrue(verify.matches(check, len(self.content), digest_of(check, self.content)), key)
            other = self.content[:-1] + b"X"
            if check.hasher is not None:
                self.assertFalse(verify.matches(check, len(other), digest_of(check, other)), key)

    def test_left_to_git_annex(self):
        for backend in LEFT_TO_GIT_ANNEX:
            self.assertTrue(verify.unsupported(self.calckey(backend)), backend)
