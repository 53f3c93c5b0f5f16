"""
A deadline for one step that may never finish (a node's handshake, a
connection through tor, an onion service's publication): one primitive for
every place that gives up after a time.
"""


class Deadline:
    """
    Calls C{expire} after C{seconds} on C{clock} unless the block it guards
    ends first; as a context manager, the call is cancelled when the block
    ends, however it ends.

    @ivar expired: whether C{expire} was called.
    """

    def __init__(self, clock, seconds, expire):
        self.seconds = seconds
        self.expired = False
        self._expire = expire
        self._call = clock.callLater(seconds, self._fire)

    def _fire(self):
        self.expired = True
        self._expire()

    def cancel(self):
        if self._call.active():
            self._call.cancel()

    def __enter__(self):
        return self

    def __exit__(self, excType, exc, tb):
        self.cancel()
        return False
