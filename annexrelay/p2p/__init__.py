"""
The git-annex P2P protocol: the pure message codec (L{annexrelay.p2p.messages})
and the Twisted framer (L{annexrelay.p2p.framing}).
"""
