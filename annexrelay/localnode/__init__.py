"""
Nodes annexrelay writes itself (C{--local-store}): for a node that is a
local bare repository, an upload is received straight into its annex, as
git-annex's own P2P server would store it, instead of through a
git-annex-shell; git-annex's open "faster proxying" todo.

 - L{annexrelay.localnode.layout}: where git-annex keeps objects, partial
   objects and transfer locks, and which repositories qualify;
 - L{annexrelay.localnode.verify}: checking content against its key;
 - L{annexrelay.localnode.objects}: receiving, checking, installing and
   recording one object;
 - L{annexrelay.localnode.serve}: C{CHECKPRESENT} and C{PUT} in the P2P
   protocol;
 - L{annexrelay.localnode.nodes}: which nodes qualify, one per repository.
"""
