"""
C{./dev demo [tor|http]}: C{python -m annexrelay.demo} runs the cluster
demo over ssh, C{python -m annexrelay.demo tor} the same kind of demo over
a private Tor network, C{python -m annexrelay.demo http} over annex+http
(L{annexrelay.testing.demos}).
"""

import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from annexrelay.testing import demos

    if argv[:1] == ["tor"]:
        return demos.tor()
    if argv[:1] == ["http"]:
        return demos.http()
    if argv:
        sys.stderr.write("usage: python -m annexrelay.demo [tor|http]\n")
        return 2
    return demos.cluster()


if __name__ == "__main__":
    sys.exit(main())
