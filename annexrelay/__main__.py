"""
C{annexrelay ARGS} is C{twistd -n annexrelay ARGS}: the daemon in the
foreground, logging to stdout.  C{annexrelay address ...} issues, lists and
revokes Tor addresses (L{annexrelay.address}); C{annexrelay status} shows
what the running daemon serves (L{annexrelay.operator.cli}); C{annexrelay
user ...} manages annex+http users and grants (L{annexrelay.user}).
"""

import sys


def main(argv=None):
    from twisted.scripts.twistd import run

    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["address"]:
        from annexrelay.address import main as address

        return address(argv[1:])
    if argv[:1] == ["user"]:
        from annexrelay.user import main as user

        sys.exit(user(argv[1:]))
    if argv[:1] == ["status"]:
        from annexrelay.operator.cli import main as status

        sys.exit(status(argv[1:]))
    sys.argv = ["twistd", "--nodaemon", "--pidfile=", "annexrelay"] + list(argv)
    run()


if __name__ == "__main__":
    main()
