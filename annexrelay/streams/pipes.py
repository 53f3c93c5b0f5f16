"""
Pipes, C{splice(2)} and C{tee(2)}: the kernel calls that move payloads
without copying them into the relay's memory (standard library and ctypes
only; Linux, with fallbacks reported by L{HAVE_SPLICE} and L{HAVE_TEE}).
"""

import array
import ctypes
import errno
import fcntl
import os
import stat
import termios

HAVE_SPLICE = hasattr(os, "splice")
SPLICE_FLAGS = getattr(os, "SPLICE_F_NONBLOCK", 0) | getattr(os, "SPLICE_F_MOVE", 0)
_NONBLOCK = getattr(os, "SPLICE_F_NONBLOCK", 2)
# The most one move (and a widened pipe) holds.
CHUNK = 1 << 20


def isPipe(fd):
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


def widen(fd):
    """
    Let a pipe hold up to 1 MiB, so a transfer takes a few large moves
    rather than many 64 KiB ones.
    """
    if isPipe(fd):
        try:
            if fcntl.fcntl(fd, getattr(fcntl, "F_GETPIPE_SZ", 1032)) < CHUNK:
                fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
        except OSError:
            pass


def privatePipe():
    """
    A non-blocking pipe of 1 MiB: C{(read end, write end)}.
    """
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
    except OSError:
        pass
    return r, w


def splice(src, dst, n):
    """
    Move up to C{n} bytes from descriptor C{src} to C{dst} (one of them a
    pipe) without blocking; L{BlockingIOError} when nothing can move now.
    """
    return os.splice(src, dst, n, flags=SPLICE_FLAGS)


def discard(pipe, n):
    """
    Drop C{n} bytes from the head of C{pipe}'s read end.
    """
    left = n
    while left:
        left -= len(os.read(pipe, left))


def _loadTee():
    if not HAVE_SPLICE:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.tee
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
    fn.restype = ctypes.c_ssize_t
    return fn


_tee = _loadTee()
HAVE_TEE = _tee is not None


def tee(src, dst, n):
    """
    Duplicate up to C{n} bytes at the head of pipe C{src} into pipe C{dst}
    without consuming them.
    """
    k = _tee(src, dst, n, _NONBLOCK)
    if k < 0:
        e = ctypes.get_errno()
        if e == errno.EAGAIN:
            raise BlockingIOError(e, os.strerror(e))
        raise OSError(e, os.strerror(e))
    return k


def queued(fd):
    """
    How many bytes wait in the pipe C{fd} for its reader.
    """
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf)
    except OSError:
        return 0
    return buf[0]
