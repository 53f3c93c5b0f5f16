"""
The Tor front door: every target is an onion service of its own.

 - L{annexrelay.frontdoor.tor.onion}: a loopback listener per target,
   sessions authenticated by token, revocation;
 - L{annexrelay.frontdoor.tor.keys}: v3 onion keys and names, the key file;
 - L{annexrelay.frontdoor.tor.tokens}: the hashed token store;
 - L{annexrelay.frontdoor.tor.publish}: publishing the onion services
   through txtorcon (a running tor, or one of the daemon's own).
"""
