"""
Front doors: how clients reach the daemon.  Each authenticates a client and
opens sessions on a target from the core (L{annexrelay.core.RelayCore}):

 - L{annexrelay.frontdoor.shell}: C{annexrelay-shell}, run by sshd where
   git-annex-shell was (standard library only);
 - L{annexrelay.frontdoor.handover}: the daemon's side of the shell's
   hand-over of an ssh session;
 - L{annexrelay.frontdoor.inprocess}: the shell serving the session itself
   when no daemon runs;
 - L{annexrelay.frontdoor.auth}: the authenticators they pass to sessions.

This package's top level stays free of Twisted: the shell imports it.
"""
