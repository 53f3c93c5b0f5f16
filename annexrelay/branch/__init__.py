"""
The proxy repository's git-annex branch: what annexrelay reads and writes
there.

 - L{annexrelay.branch.locationlog}: location log paths and updates (pure);
 - L{annexrelay.branch.timestamps}: the timestamp of every log line;
 - L{annexrelay.branch.uuidlogs}: the per-repository logs (cluster, trust,
   groups, preferred content, uuid.log descriptions; pure);
 - L{annexrelay.branch.metadata}: the per-key metadata log (pure);
 - L{annexrelay.branch.git}: git plumbing, git-annex's journal lock;
 - L{annexrelay.branch.reader}: the branch as git-annex sees it (committed,
   journal, annexrelay's records not yet committed);
 - L{annexrelay.branch.journal}: git-annex's journal as git-annex commits
   it;
 - L{annexrelay.branch.writer}: the location log writer, which commits the
   journal too.
"""
