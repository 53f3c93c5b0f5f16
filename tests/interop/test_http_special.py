"""
Special remotes proxied by the repository, through the annex+http door:
the real client's C{copy --to}, C{get --from}, C{fsck --from} and
C{drop --from} through C{annex+http://.../git-annex/} (the same kinds as
over ssh, L{tests.interop.test_special}).
"""

from tests.interop.test_http import HttpCase
from tests.interop import test_special


class SpecialRemoteOverHttpTests(HttpCase):
    nodes = 1

    def setUp(self):
        HttpCase.setUp(self)
        test_special.addSpecialRemotes(self)
    roundTrip = test_special.SpecialRemoteTests.roundTrip

    def test_every_kind(self):
        for name in ("sr", "chunked", "enc", "export"):
            self.roundTrip("origin-" + name, name + ".txt")
        self.assertTrue(self.httpRequests("put v4"), self.daemonLog())
        self.assertTrue(self.httpRequests("key v4"))
        self.assertTrue(self.httpRequests("remove v4"))
        self.assertCleanLog()
