"""
annexrelay-shell: a drop-in for git-annex-shell on the proxy host.

It accepts git-annex-shell's command line exactly, including the
forced-command form C{-c "git-annex-shell 'p2pstdio' 'DIR' 'UUID' --uuid T"}.

 - C{p2pstdio} for a proxied remote is served by the running annexrelay
   daemon of that repository: the session's stdin and stdout are handed to
   it over its unix socket (SCM_RIGHTS), so the bytes are copied by one
   process only; without a daemon the relay runs in this process.
 - C{p2pstdio} for the repository itself, C{configlist} and the legacy
   commands (C{inannex}, C{sendkey}, ...) are run by the real
   git-annex-shell, which answers them exactly as it always has.
 - C{git-upload-pack}/C{git-receive-pack} go to git-shell, except that
   C{git-receive-pack} is refused in read-only and append-only sessions
   (git-annex-shell lets a read-only key push).

This module is on the path of every ssh session, so it uses the standard
library only: importing Twisted would cost ten times the rest of the start.
It avoids even C{json}, C{shlex} and C{socket} (which import C{re} and
C{enum}: half of the start) on the path of a hand-over: the header is
formatted here, git-annex's quoted command line split here (L{_split}
falls back to C{shlex} for anything else), and the descriptors sent with
C{_socket} itself.
"""

import _socket
import array
import os
import sys

from annexrelay import paths
from annexrelay.paths import default_socket, short_socket_path

PROG = "annexrelay-shell"
BUILTINS = ("configlist", "notifychanges", "p2pstdio", "inannex", "sendkey", "recvkey", "dropkey", "gcryptsetup")
GIT_COMMANDS = ("git-upload-pack", "git-receive-pack", "git-upload-archive")

USAGE = """Usage: annexrelay-shell [-c] command [parameters ...] [option ...]

Accepts git-annex-shell's command line.  Commands:

configlist    outputs relevant git configuration (answered by git-annex-shell)
p2pstdio      communicate in P2P protocol over stdio (relayed for proxied remotes)
notifychanges, inannex, sendkey, recvkey, dropkey, gcryptsetup
              legacy commands, run by git-annex-shell for the repository itself
git-upload-pack, git-receive-pack
              git transport, run by git-shell
"""


class ShellError(Exception):
    pass


def _die(message, code=1):
    sys.stderr.write("%s: %s\n" % (PROG, message))
    sys.stderr.flush()
    return code


def _unwrap(argv):
    """
    Undo the forced-command wrapping: skip leading C{-c}, and split a single
    C{"git-annex-shell ..."} argument like a shell would.

    @return: C{(words, original command string or None)}.
    """
    while argv and argv[0] == "-c":
        argv = argv[1:]
    if len(argv) == 1:
        cmd = argv[0]
        for prefix in ("git-annex-shell ", PROG + " "):
            if cmd.startswith(prefix):
                return _unwrap(_split(cmd[len(prefix) :]))
        return _split(cmd), cmd
    return argv, None


# Command lines made only of these are split by L{_split_plain}, exactly
# as C{shlex.split} would: what git-annex sends ('p2pstdio' '/srv/repo' ...).
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_~ '")


def _split(cmd):
    if _PLAIN.issuperset(cmd):
        return _split_plain(cmd)
    import shlex

    try:
        return shlex.split(cmd)
    except ValueError as e:
        # As git-annex-shell, which hands such a line to git-shell: refused.
        raise ShellError("unrecognized command %r: %s" % (cmd, e))


def _split_plain(cmd):
    """
    C{shlex.split(cmd)} for a C{cmd} of L{_PLAIN} characters only: words
    separated by spaces, single quotes taken literally up to the next one.
    """
    words, word, inWord, quoted = [], [], False, False
    for ch in cmd:
        if quoted:
            if ch == "'":
                quoted = False
            else:
                word.append(ch)
        elif ch == "'":
            quoted = inWord = True
        elif ch == " ":
            if inWord:
                words.append("".join(word))
                word, inWord = [], False
        else:
            word.append(ch)
            inWord = True
    if quoted:
        raise ShellError("unrecognized command %r: No closing quotation" % (cmd,))
    if inWord:
        words.append("".join(word))
    return words


def _json_line(header):
    """
    C{json.dumps(header) + "\\n"} for a dict of strings, as ASCII bytes.
    """
    return ("{" + ", ".join(_json_string(k) + ": " + _json_string(v) for k, v in header.items()) + "}\n").encode("ascii")


def _json_string(text):
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif o > 0xFFFF:
            o -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | (o >> 10), 0xDC00 | (o & 0x3FF)))
        else:
            out.append("\\u%04x" % (o,))
    out.append('"')
    return "".join(out)


def _parse(words):
    """
    Split git-annex-shell's arguments into command, directory, positional
    parameters and options.
    """
    command = words[0]
    rest = words[1:]
    fields = {}
    if "--" in rest:
        i = rest.index("--")
        tail = rest[i + 1 :]
        rest = rest[:i]
        if "--" in tail:
            tail = tail[: tail.index("--")]
        for f in tail:
            k, _, v = f.partition("=")
            fields[k] = v
    positional = []
    options = {}
    i = 0
    while i < len(rest):
        w = rest[i]
        if w == "--uuid" and i + 1 < len(rest):
            options["uuid"] = rest[i + 1]
            i += 2
            continue
        if w.startswith("--uuid="):
            options["uuid"] = w[len("--uuid=") :]
        elif w.startswith("-") and len(w) > 1:
            options.setdefault("other", []).append(w)
        else:
            positional.append(w)
        i += 1
    if not positional:
        raise ShellError("bad parameters\n\n" + USAGE)
    return command, positional[0], positional[1:], options, fields


def _expand_dir(directory):
    if directory.startswith("/~/"):
        directory = "~/" + directory[3:]
    elif directory == "/~":
        directory = "~"
    return os.path.abspath(os.path.expanduser(directory))


def socket_path(directory):
    """
    The daemon's default socket for the repository at C{directory}.
    """
    return default_socket(directory)


def _mode(env):
    if env.get("GIT_ANNEX_SHELL_READONLY"):
        return "read-only"
    if env.get("GIT_ANNEX_SHELL_APPENDONLY"):
        return "append-only"
    return "read-write"


def real_git_annex_shell():
    """
    The real git-annex-shell (L{annexrelay.paths.real_git_annex_shell}).
    """
    found = paths.real_git_annex_shell()
    if found is None:
        raise ShellError("git-annex-shell not found on PATH (set ANNEXRELAY_GIT_ANNEX_SHELL)")
    return found


def _exec(argv):
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        raise ShellError("cannot run %s: %s" % (argv[0], e))


def _git_shell(words, original, env):
    if env.get("GIT_ANNEX_SHELL_LIMITED"):
        raise ShellError("Action blocked by GIT_ANNEX_SHELL_LIMITED")
    if words[0] == "git-receive-pack":
        if env.get("GIT_ANNEX_SHELL_READONLY"):
            raise ShellError("Action blocked by GIT_ANNEX_SHELL_READONLY")
        if env.get("GIT_ANNEX_SHELL_APPENDONLY"):
            raise ShellError("Action blocked by GIT_ANNEX_SHELL_APPENDONLY")
    if len(words) > 1:
        _check_directory(_expand_dir(words[1]), env)
    if original is None:
        import shlex

        original = " ".join(shlex.quote(w) for w in words)
    command = original
    _exec(["git-shell", "-c", command])


def _check_directory(directory, env):
    allowed = env.get("GIT_ANNEX_SHELL_DIRECTORY")
    if allowed:
        a = os.path.realpath(_expand_dir(allowed))
        if os.path.realpath(directory) != a:
            raise ShellError("Only allowed to access %s not %s" % (allowed, directory))


def _recv_line(sock, buf):
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return None, buf
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line.decode("utf-8", "replace"), rest


def handover(path, header):
    """
    Give this session's stdin and stdout to the daemon listening on C{path}.

    @return: the exit status to end with, C{"self"} when the daemon says the
        target is the repository itself, or None when no daemon listens.
    """
    if not os.path.exists(path):
        return None
    path = short_socket_path(path)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    sock.sendmsg([_json_line(header)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [0, 1]))])
    line, buf = _recv_line(sock, b"")
    if line is None:
        raise ShellError("the annexrelay daemon closed the connection")
    if line == "SELF":
        return "self"
    if line.startswith("FAIL "):
        raise ShellError(line[5:])
    if line != "OK":
        raise ShellError("unexpected answer from the annexrelay daemon: %r" % (line,))
    # The daemon owns the session now.  Our copies must go, or the client
    # would not see the end of the session when the daemon closes its own.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    line, buf = _recv_line(sock, buf)
    while line is not None and line.startswith("SAY "):
        # What the daemon tells the user (a PUT refused over quota): on
        # the ssh session's stderr, which git-annex shows.
        sys.stderr.write("%s: %s\n" % (PROG, line[4:]))
        sys.stderr.flush()
        line, buf = _recv_line(sock, buf)
    if line is None or not line.startswith("EXIT "):
        return 1
    return int(line[5:])


def _p2pstdio(directory, params, options, env):
    if not params:
        raise ShellError("missing UUID parameter")
    target = options.get("uuid")
    if not target:
        return "self"
    header = {
        "command": "p2pstdio",
        "directory": directory,
        "client": params[0],
        "target": target,
        "mode": _mode(env),
    }
    result = handover(socket_path(directory), header)
    if result is not None:
        return result
    from annexrelay.frontdoor.ssh import inprocess

    try:
        return inprocess.serve_stdio(directory, header)
    except inprocess.Refused as e:
        raise ShellError(str(e))


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    env = os.environ
    try:
        words, original = _unwrap(list(argv))
        if not words:
            raise ShellError("bad parameters\n\n" + USAGE)
        if words[0] not in BUILTINS:
            if words[0] in GIT_COMMANDS:
                _git_shell(words, original, env)
            raise ShellError("unknown command %r; it is neither a git-annex-shell command nor a git one\n\n%s" % (words[0], USAGE))
        command, directory, params, options, fields = _parse(words)
        full = _expand_dir(directory)
        _check_directory(full, env)
        if command == "p2pstdio":
            result = _p2pstdio(full, params, options, env)
            if result != "self":
                return result
        _exec([real_git_annex_shell()] + words)
    except ShellError as e:
        return _die(str(e))
    except KeyboardInterrupt:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
