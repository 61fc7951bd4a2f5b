import os
import socket
import sys
import threading

import pytest

# The tests must exercise the installed wheel, not the source tree next to them.
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != SOURCE]


@pytest.fixture(scope="session")
def identity():
    import airswarm

    return airswarm.Identity.generate()


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """A port on 127.0.0.1 free for both TCP and UDP right now, never handed out before in
    this process.

    The socket that found it is closed before the port is used, so the OS may offer the
    same port again; ports already handed out are skipped. Test modules import it with
    ``from conftest import free_port``.
    """
    while True:
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = int(t.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
        with _handed_out_lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
