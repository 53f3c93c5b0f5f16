"""
The annex+http front door: C{git annex p2phttp}'s protocol, served on the
shared core (L{annexrelay.frontdoor.http.door} says how one request
travels).
"""
