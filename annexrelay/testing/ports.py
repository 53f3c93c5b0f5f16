"""
Loopback ports for tests that start servers of their own, and waiting (bounded)
for a server to listen on one.
"""

import socket
import time


def free_port():
    """
    A port on 127.0.0.1 that nothing listens on now.
    """
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_free(port):
    """
    Whether C{port} on 127.0.0.1 can be listened on now.
    """
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_listening(port, proc, deadline=30):
    """
    Wait (bounded) until something accepts on 127.0.0.1:C{port}.
    """
    end = time.monotonic() + deadline
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("nothing listens on port %d" % (port,))
            time.sleep(0.02)
