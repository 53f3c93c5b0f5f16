"""
C{--directory D}: every git-annex repository under D served over
annex+http, each in its own namespace (L{annexrelay.directory.tree}: the
index, pure; L{annexrelay.directory.scan}: finding repositories;
L{annexrelay.directory.cores}: one core per repository, opened lazily).
"""
