"""
C{annexrelay ARGS} is C{twistd -n annexrelay ARGS}: the daemon in the
foreground, logging to stdout.
"""

import sys


def main(argv=None):
    from twisted.scripts.twistd import run

    if argv is None:
        argv = sys.argv[1:]
    sys.argv = ["twistd", "--nodaemon", "--pidfile=", "annexrelay"] + list(argv)
    run()


if __name__ == "__main__":
    main()
