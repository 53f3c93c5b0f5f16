"""
Front doors: how clients reach the daemon, one folder per door.  Each lets
a client in and opens sessions on a target from the core
(L{annexrelay.core.RelayCore}):

 - L{annexrelay.frontdoor.ssh}: C{annexrelay-shell} run by sshd, the
   daemon's side of its hand-over, and serving in the shell's process when
   no daemon runs;
 - L{annexrelay.frontdoor.tor}: one onion service per target, its keys,
   its tokens, publishing through txtorcon;
 - L{annexrelay.frontdoor.http}: annex+http, a drop-in for C{git annex
   p2phttp} (twisted.web), each request a P2P session on the core;
 - L{annexrelay.frontdoor.auth}: what every door shares: the
   authenticators a door passes to its sessions (who the client is, which
   target, which mode), and the failure limiter.

This package's top level (and L{annexrelay.frontdoor.ssh}'s) stays free of
Twisted: the shell imports it on every ssh session.
"""
