"""A client for the local API of a running node (``airswarm node --api 127.0.0.1:7700``).

The node speaks line-delimited JSON over TCP: one request per line, one reply per
request, and events (messages received, deliveries, peers heard, security warnings)
pushed on the same connection as they happen::

    with airswarm.NodeClient("127.0.0.1:7700") as node:
        print(node.id()["fingerprint"])
        node.join("ops", passphrase="correct horse battery staple")
        msg_id = node.send("hello", channel="ops")
        for event in node.events(timeout=30):
            print(event["event"], event.get("text"))

Events that arrive while a call waits for its reply are kept (at most ``max_events``;
beyond that the oldest are dropped and a ``{"event": "lagged", "missed": N}`` takes
their place, as the node itself does for a client that does not read) and come out of
:meth:`NodeClient.events` in order. The client is thread-safe: one thread can iterate
events while others send.

Every failure is a :class:`NodeError` (an :class:`airswarm.AirswarmError`): a request
the node refused carries its message and the reply; a connection that cannot be made,
breaks or stays silent past ``timeout`` has the ``OSError`` as ``__cause__``. Bad
arguments (``send`` with both ``to`` and ``channel``, say) raise
:class:`airswarm.ConfigError` before anything is sent.
"""

import collections
import itertools
import json
import select
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Set, Tuple, TypeVar

from airswarm._native import AirswarmError, ConfigError

__all__ = ["DEFAULT_ADDRESS", "NodeClient", "NodeError"]

_T = TypeVar("_T")

#: Where ``airswarm node`` serves its API unless told otherwise.
DEFAULT_ADDRESS = "127.0.0.1:7700"
#: Longest line accepted from the node (a reply to ``history`` with the node's maximum of
#: 1000 messages of 1024 bytes fits many times over).
MAX_LINE = 16 * 1024 * 1024


class NodeError(AirswarmError):
    """The node refused a request (``reply`` is its ``{"ok": false, ...}`` line), or the
    connection to it failed (``reply`` is None and ``__cause__`` the ``OSError``)."""

    def __init__(self, message: str, reply: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.reply = reply


def _split_address(address: str) -> Tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f'a node address is "HOST:PORT", e.g. "{DEFAULT_ADDRESS}", not {address!r}'
        )
    return host.strip("[]"), int(port)


def _one_of(what: str, **given: Optional[str]) -> None:
    named = [k for k, v in given.items() if v is not None]
    if len(named) > 1:
        raise ConfigError(f"{what} takes {' or '.join(repr(k) for k in given)}, not both")


class NodeClient:
    """A connection to a running node's API at ``address`` (``"HOST:PORT"``).

    ``timeout`` (seconds) bounds connecting and each call's wait for its reply; ``None``
    waits for ever. ``max_events`` bounds the events kept until :meth:`events` reads them.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        timeout: Optional[float] = 10.0,
        *,
        max_events: int = 10_000,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ConfigError(
                f"timeout must be a positive number of seconds or None, not {timeout!r}"
            )
        if max_events < 1:
            raise ConfigError(f"max_events must be at least 1, not {max_events!r}")
        host, port = _split_address(address)
        self.address = address
        self.timeout = timeout
        self._max_events = max_events
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise NodeError(f"cannot connect to the node at {address}: {e}") from e
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._reading = False
        self._events: Deque[Dict[str, Any]] = collections.deque()
        self._missed = 0
        self._replies: Dict[int, Dict[str, Any]] = {}
        self._pending: Set[int] = set()
        self._ids = itertools.count(1)
        self._broken: Optional[NodeError] = None

    # -- requests ---------------------------------------------------------------------

    def id(self) -> Dict[str, Any]:
        """This node: ``fingerprint``, ``address``, ``name``, ``radio``."""
        return self._body(self.request({"cmd": "id"}))

    def peers(self) -> List[Dict[str, Any]]:
        """Known peers: ``fingerprint``, ``address``, ``name``, ``snr_db``, ``rssi_dbm``,
        ``last_heard_ms`` each."""
        return list(self.request({"cmd": "peers"})["peers"])

    def channels(self) -> List[Dict[str, Any]]:
        """Channels joined: ``name`` each."""
        return list(self.request({"cmd": "channels"})["channels"])

    def stats(self) -> Dict[str, Any]:
        """The node's counters (frames in and out, radio backlog, messages in flight, ...)."""
        return self._body(self.request({"cmd": "stats"}))

    def send(self, text: str, *, to: Optional[str] = None, channel: Optional[str] = None) -> int:
        """Send ``text`` to a peer (``to``: a fingerprint, a unique prefix of one, or a
        name) or to a channel joined; returns the message's id (``msg_id`` in its
        ``sent``, ``delivered`` and ``failed`` events and in :meth:`history`)."""
        _one_of("send", to=to, channel=channel)
        if to is None and channel is None:
            raise ConfigError("send needs to= (a peer) or channel=")
        req: Dict[str, Any] = {"cmd": "send", "text": text}
        if to is not None:
            req["to"] = to
        else:
            req["channel"] = channel
        return int(self.request(req)["msg_id"])

    def join(
        self, channel: str, *, key: Optional[str] = None, passphrase: Optional[str] = None
    ) -> None:
        """Join (and remember) channel ``channel`` with its ``key``
        (``"airswarm-channel:<hex>"``) or a ``passphrase`` the key is derived from."""
        _one_of("join", key=key, passphrase=passphrase)
        if key is None and passphrase is None:
            raise ConfigError("join needs key= (airswarm-channel:...) or passphrase=")
        req: Dict[str, Any] = {"cmd": "join", "channel": channel}
        if key is not None:
            req["key"] = key
        else:
            req["passphrase"] = passphrase
        self.request(req)

    def leave(self, channel: str) -> None:
        """Leave channel ``channel``."""
        self.request({"cmd": "leave", "channel": channel})

    def history(
        self, limit: int = 50, *, to: Optional[str] = None, channel: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """The latest ``limit`` messages stored (the node returns at most 1000), or only
        those with peer ``to`` or in ``channel``."""
        _one_of("history", to=to, channel=channel)
        req: Dict[str, Any] = {"cmd": "history", "limit": limit}
        if to is not None:
            req["to"] = to
        if channel is not None:
            req["channel"] = channel
        return list(self.request(req)["messages"])

    def share(
        self, path: str, *, channel: Optional[str] = None, name: Optional[str] = None
    ) -> Dict[str, Any]:
        """Share the file at ``path`` (on the node's machine, at most 1 MiB) with the
        members of ``channel`` (default: the first channel joined), announced as ``name``
        (default: its file name). Returns ``file`` (the file id), ``name``, ``size``,
        ``pieces`` and ``channel``."""
        req: Dict[str, Any] = {"cmd": "share", "path": str(path)}
        if channel is not None:
            req["channel"] = channel
        if name is not None:
            req["name"] = name
        return self._body(self.request(req))

    def files(self) -> List[Dict[str, Any]]:
        """Files shared, offered, being fetched and complete: ``file``, ``name``,
        ``size``, ``pieces``, ``have``, ``state`` (``shared``, ``offered``, ``fetching``
        or ``complete``), ``channel``, ``path`` each. Progress comes as
        ``file_offered``, ``file_progress`` and ``file_complete`` events."""
        return list(self.request({"cmd": "files"})["files"])

    def fetch(self, file: str) -> Dict[str, Any]:
        """Fetch an offered file by its id (16 hex digits); it is written to the node's
        files directory when complete (a ``file_complete`` event names the path)."""
        return self._body(self.request({"cmd": "fetch", "file": file}))

    def request(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """Send one raw request (a dict with ``"cmd"``; its ``"id"`` is set here) and
        return the node's reply; a refusal raises :class:`NodeError`."""
        req_id = next(self._ids)
        line = json.dumps({**request, "id": req_id}, ensure_ascii=False).encode() + b"\n"
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with self._cond:
            self._check_broken()
            self._pending.add(req_id)
        reply: Optional[Dict[str, Any]] = None
        late: Optional[Dict[str, Any]] = None
        with self._send_lock:
            try:
                self._sock.sendall(line)
            except OSError as e:
                with self._cond:
                    self._pending.discard(req_id)
                raise self._break(f"cannot send to the node at {self.address}: {e}", e) from e
        try:
            reply = self._wait(lambda: self._replies.pop(req_id, None), deadline)
        finally:
            with self._cond:
                # A reply that comes after we stopped waiting is dropped when it comes.
                self._pending.discard(req_id)
                late = self._replies.pop(req_id, None)
        if reply is None:
            reply = late
        if reply is None:
            raise NodeError(f"no reply from the node at {self.address} within {self.timeout} s")
        if reply.get("ok") is not True:
            raise NodeError(str(reply.get("error", "the node refused the request")), reply)
        return reply

    # -- events -----------------------------------------------------------------------

    def events(self, timeout: Optional[float] = None) -> Iterator[Dict[str, Any]]:
        """Events as they come (those kept while calls waited first), each a dict with
        ``"event"``: ``message``, ``sent``, ``delivered``, ``failed``, ``security``,
        ``peer`` or ``lagged``. Without ``timeout`` it waits for ever; with one, it ends
        when no event came for that many seconds."""
        while True:
            deadline = None if timeout is None else time.monotonic() + timeout
            event = self._wait(self._next_event, deadline)
            if event is None:
                return
            yield event

    def _next_event(self) -> Optional[Dict[str, Any]]:
        if self._missed:
            missed, self._missed = self._missed, 0
            return {"event": "lagged", "missed": missed}
        return self._events.popleft() if self._events else None

    # -- connection -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (calls after this raise :class:`NodeError`)."""
        with self._cond:
            if self._broken is None:
                self._broken = NodeError("the connection to the node is closed")
            self._cond.notify_all()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> "NodeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NodeClient({self.address!r})"

    def _body(self, reply: Dict[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in reply.items() if k not in ("ok", "id")}

    def _check_broken(self) -> None:
        if self._broken is not None:
            raise NodeError(str(self._broken), self._broken.reply) from self._broken.__cause__

    def _break(self, message: str, cause: Optional[BaseException] = None) -> NodeError:
        err = NodeError(message)
        err.__cause__ = cause
        with self._cond:
            if self._broken is None:
                self._broken = err
            self._cond.notify_all()
        return err

    def _wait(self, take: Callable[[], Optional[_T]], deadline: Optional[float]) -> Optional[_T]:
        """Until ``take()`` (called with the lock held) returns something, or the deadline
        passes (None): one thread at a time reads lines off the socket and files them."""
        with self._cond:
            while True:
                got = take()
                if got is not None:
                    return got
                self._check_broken()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if self._reading:
                    self._cond.wait(remaining)
                    continue
                self._reading = True
                try:
                    self._cond.release()
                    try:
                        line = self._read_line(remaining)
                    finally:
                        self._cond.acquire()
                    if line is not None:
                        self._file(line)
                finally:
                    self._reading = False
                    self._cond.notify_all()

    def _read_line(self, timeout: Optional[float]) -> Optional[bytes]:
        """One line from the node, or None when ``timeout`` passes first (nothing read is
        lost: a partial line stays in the buffer)."""
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 1]
                return line
            if len(self._buf) > MAX_LINE:
                raise self._break(f"the node sent a line longer than {MAX_LINE} bytes")
            try:
                # select, not a socket timeout: another thread may be sending meanwhile.
                readable, _, _ = select.select([self._sock], [], [], timeout)
                if not readable:
                    return None
                chunk = self._sock.recv(65536)
            except (OSError, ValueError) as e:
                lost = f"lost the connection to the node at {self.address}: {e}"
                raise self._break(lost, e) from e
            if not chunk:
                raise self._break(f"the node at {self.address} closed the connection")
            self._buf += chunk

    def _file(self, line: bytes) -> None:
        """File one line (lock held): a reply under its id, an event in the queue."""
        if not line.strip():
            return
        try:
            msg = json.loads(line)
        except ValueError as e:
            self._broken = NodeError(f"the node sent a line that is not JSON: {e}")
            return
        if not isinstance(msg, dict):
            self._broken = NodeError("the node sent a line that is not a JSON object")
            return
        if "event" in msg:
            if len(self._events) >= self._max_events:
                self._events.popleft()
                self._missed += 1
            self._events.append(msg)
        elif isinstance(msg.get("id"), int) and not isinstance(msg.get("id"), bool):
            if msg["id"] in self._pending:
                self._replies[msg["id"]] = msg
        elif msg.get("ok") is False:
            # Without an id it answers no request of ours: the node turned the connection
            # down (too many clients) or could not read a line at all.
            self._broken = NodeError(str(msg.get("error", "the node refused the connection")), msg)
