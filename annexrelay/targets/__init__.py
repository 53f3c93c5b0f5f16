"""
Targets: what a request means.  A target is made per client session by the
core; it speaks through the session's API and node connections only.

 - L{annexrelay.targets.proxied}: one proxied remote;
 - L{annexrelay.targets.cluster}: a cluster (its reads, removals and
   timestamps), with L{annexrelay.targets.nodeset} (the session's node
   connections) and L{annexrelay.targets.clusterput} (the fan-out PUT);
 - L{annexrelay.targets.relaying}: what they all do the same way.
"""
