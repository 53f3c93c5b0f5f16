"""
The git-annex P2P protocol: pure message codec and the Twisted framer.
"""
