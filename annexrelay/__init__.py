"""
annexrelay: a git-annex P2P protocol relay (proxy and cluster gateway).

This package's top level must stay free of Twisted imports: the
C{annexrelay-shell} entry point imports it on every ssh session and must
start in a few milliseconds.
"""

__version__ = "0.1.0"
