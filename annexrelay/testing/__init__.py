"""
What tests, benchmarks and the demo share, as Twisted keeps
C{twisted.internet.testing}: nothing here runs in the daemon.

 - L{annexrelay.testing.lab}: throw-away git-annex set-ups (a proxy
   repository with nodes and clusters, clients behind an ssh stand-in, the
   daemon started on them);
 - L{annexrelay.testing.gitrepos}: small git repository helpers;
 - L{annexrelay.testing.memory}: in-memory relay pairs over
   C{StringTransport}s (tier-2 tests);
 - L{annexrelay.testing.ports}: free loopback ports;
 - L{annexrelay.testing.sshd}: a real OpenSSH server on 127.0.0.1;
 - L{annexrelay.testing.onionnet}: a network namespace of the test's own;
 - L{annexrelay.testing.tornet}: a private Tor network on loopback;
 - L{annexrelay.testing.socks_standin}: a SOCKS5 stand-in mapping onions to
   loopback listeners (also run as a script);
 - L{annexrelay.testing.demos}: the demos C{./dev demo} runs.
"""
