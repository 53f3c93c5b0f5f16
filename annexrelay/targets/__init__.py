"""
Targets: what a request means for one proxied remote (and, later, a cluster).
"""
