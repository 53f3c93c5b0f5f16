"""
The ssh front door:

 - L{annexrelay.frontdoor.ssh.shell}: C{annexrelay-shell}, run by sshd where
   git-annex-shell was (standard library only);
 - L{annexrelay.frontdoor.ssh.handover}: the daemon's side of the shell's
   hand-over of an ssh session (header and descriptors over a unix socket);
 - L{annexrelay.frontdoor.ssh.inprocess}: the shell serving the session
   itself when no daemon runs.

Free of Twisted: the shell imports this package on every ssh session.
"""
