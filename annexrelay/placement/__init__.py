"""
Cluster placement, pure: which nodes of a cluster serve a request, decided
as git-annex's gateway decides it.

The rest of the code asks one class, L{ClusterView} (one session's picture
of a cluster, from the gateway's configuration and branch), the one
question: which nodes hold this key (to read from), which nodes should get
it (to store on).  Behind it:

 - L{annexrelay.placement.view}: the cluster's usable nodes, their cost
   order, and the choice of PUT candidates;
 - L{annexrelay.placement.syntax} and L{annexrelay.placement.expression}:
   preferred content expressions, parsed and evaluated as git-annex
   10.20261026 does;
 - L{annexrelay.placement.values}: what the expressions refer to (standard
   groups, sizes, trust levels, git-annex's balanced and size-balanced
   pickers, metadata matchers);
 - L{annexrelay.placement.glob}: git-annex's globs, matched as its
   glob-to-regex rewrite and regex-tdfa match them.
"""

from annexrelay.placement.view import ClusterView

__all__ = ["ClusterView"]
