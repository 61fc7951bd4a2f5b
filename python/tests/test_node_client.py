"""airswarm.NodeClient against a fake node: a threaded TCP server in this file that speaks
the node API (line-delimited JSON, replies echo "id", events pushed at any time), and
against a real `airswarm node` when the binary has one."""

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

import airswarm
from airswarm.node import NodeError
from conftest import free_port

FP = "ab" * 32


class FakeNode:
    """Serves one connection at a time on 127.0.0.1:<free port>. `handler(request, push)`
    returns the reply dict (without "id": added here) or None for no reply; `push(obj)`
    writes any line (an event) at once."""

    def __init__(self, handler=None):
        self.handler = handler or self.default
        self.requests = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.conns = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def default(req, push):
        cmd = req.get("cmd")
        if cmd == "id":
            return {"ok": True, "fingerprint": FP, "address": "abababab", "name": "fake",
                    "radio": "none"}
        if cmd == "peers":
            return {"ok": True, "peers": [{"fingerprint": "cd" * 32, "name": "bob"}]}
        if cmd == "channels":
            return {"ok": True, "channels": [{"name": "ops"}]}
        if cmd == "stats":
            return {"ok": True, "frames_in": 3, "frames_out": 4}
        if cmd == "send":
            push({"event": "sent", "msg_id": 7, "to": req.get("to"),
                  "channel": req.get("channel"), "text": req["text"]})
            return {"ok": True, "msg_id": 7}
        if cmd in ("join", "leave"):
            return {"ok": True, "channel": req["channel"]}
        if cmd == "share":
            return {"ok": True, "file": "00112233aabbccdd", "name": "m.txt", "size": 5,
                    "pieces": 1, "channel": req.get("channel") or "ops"}
        if cmd == "files":
            return {"ok": True, "files": [{"file": "00112233aabbccdd", "state": "shared"}]}
        if cmd == "fetch":
            return {"ok": True, "file": req["file"], "state": "fetching"}
        if cmd == "history":
            return {"ok": True, "messages": [{"msg_id": 1, "text": "hi"}] * min(req["limit"], 3)}
        return {"ok": False, "error": "unknown command \"%s\"" % cmd}

    def serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.conns.append(conn)
            threading.Thread(target=self.client, args=(conn,), daemon=True).start()

    def client(self, conn):
        lock = threading.Lock()

        def push(obj):
            with lock:
                conn.sendall((json.dumps(obj) + "\n").encode())

        buf = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req = json.loads(line)
                    self.requests.append(req)
                    reply = self.handler(req, push)
                    if reply is not None:
                        if "id" in req:
                            reply = dict(reply, id=req["id"])
                        push(reply)
        except OSError:
            return
        finally:
            conn.close()

    def close(self):
        self.stopped.set()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def fake():
    node = FakeNode()
    yield node
    node.close()


def test_every_call_sends_its_request_and_returns_the_reply(fake):
    with airswarm.NodeClient(fake.address, timeout=5) as node:
        assert node.id() == {"fingerprint": FP, "address": "abababab", "name": "fake", "radio": "none"}
        assert node.peers()[0]["name"] == "bob"
        assert node.channels() == [{"name": "ops"}]
        assert node.stats()["frames_out"] == 4
        assert node.send("to bob", to="bob") == 7
        assert node.send("to ops", channel="ops") == 7
        node.join("ops", key="airswarm-channel:" + "00" * 32)
        node.join("news", passphrase="pass phrase")
        node.leave("news")
        assert len(node.history()) == 3
        assert len(node.history(2, channel="ops")) == 2
        node.history(5, to="bob")
        assert node.share("/tmp/m.txt")["file"] == "00112233aabbccdd"
        assert node.share("/tmp/m.txt", channel="news", name="n.txt")["channel"] == "news"
        assert node.files()[0]["state"] == "shared"
        assert node.fetch("00112233aabbccdd")["state"] == "fetching"
    reqs = fake.requests
    assert [r["cmd"] for r in reqs] == [
        "id", "peers", "channels", "stats", "send", "send", "join", "join", "leave",
        "history", "history", "history", "share", "share", "files", "fetch",
    ]
    assert "channel" not in reqs[12] and "name" not in reqs[12]
    assert reqs[13]["channel"] == "news" and reqs[13]["name"] == "n.txt"
    assert reqs[15]["file"] == "00112233aabbccdd"
    # Every request carries its own id, echoed in its reply.
    ids = [r["id"] for r in reqs]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) for i in ids)
    assert reqs[4] == {"cmd": "send", "text": "to bob", "to": "bob", "id": ids[4]}
    assert reqs[5]["channel"] == "ops" and "to" not in reqs[5]
    assert reqs[6]["key"].startswith("airswarm-channel:") and "passphrase" not in reqs[6]
    assert reqs[7]["passphrase"] == "pass phrase" and "key" not in reqs[7]
    assert reqs[9]["limit"] == 50 and "to" not in reqs[9] and "channel" not in reqs[9]
    assert reqs[10]["channel"] == "ops" and reqs[11]["to"] == "bob"


def test_events_pushed_before_a_reply_are_kept_in_order(fake):
    with airswarm.NodeClient(fake.address, timeout=5) as node:
        assert node.send("one", channel="ops") == 7
        assert node.send("two", to="bob") == 7
        got = list(node.events(timeout=0.3))
    assert [(e["event"], e["text"]) for e in got] == [("sent", "one"), ("sent", "two")]


def test_a_refusal_is_a_node_error_with_the_nodes_message(fake):
    with airswarm.NodeClient(fake.address, timeout=5) as node:
        with pytest.raises(NodeError) as e:
            node.request({"cmd": "dance"})
        assert isinstance(e.value, airswarm.AirswarmError)
        assert airswarm.NodeError is NodeError
        assert str(e.value) == 'unknown command "dance"'
        assert e.value.reply["ok"] is False
        # The connection goes on after a refusal.
        assert node.id()["name"] == "fake"


def test_bad_arguments_raise_config_error_before_sending(fake):
    with airswarm.NodeClient(fake.address, timeout=5) as node:
        with pytest.raises(airswarm.ConfigError, match="not both"):
            node.send("x", to="bob", channel="ops")
        with pytest.raises(airswarm.ConfigError, match="needs"):
            node.send("x")
        with pytest.raises(airswarm.ConfigError, match="not both"):
            node.join("ops", key="k", passphrase="p")
        with pytest.raises(airswarm.ConfigError, match="needs"):
            node.join("ops")
        with pytest.raises(airswarm.ConfigError, match="not both"):
            node.history(to="bob", channel="ops")
    assert fake.requests == []
    for bad in ["localhost", "127.0.0.1:", ":7700", "127.0.0.1:99999", "h:x"]:
        with pytest.raises(airswarm.ConfigError, match="HOST:PORT"):
            airswarm.NodeClient(bad)
    with pytest.raises(airswarm.ConfigError, match="timeout"):
        airswarm.NodeClient(fake.address, timeout=0)
    with pytest.raises(airswarm.ConfigError, match="max_events"):
        airswarm.NodeClient(fake.address, max_events=0)


def test_no_reply_times_out_and_a_late_reply_is_dropped():
    held = []

    def slow(req, push):
        if req["cmd"] == "stats":
            held.append(req["id"])
            return None  # answered late, below
        if req["cmd"] == "id" and held:
            push({"ok": True, "id": held.pop(), "frames_in": 99})  # the late stats reply
        return FakeNode.default(req, push)

    fake = FakeNode(slow)
    try:
        with airswarm.NodeClient(fake.address, timeout=0.3) as node:
            with pytest.raises(NodeError, match="no reply from the node .* within 0.3 s"):
                node.stats()
            # The late reply to stats comes first on the wire and must not pass for this one.
            assert node.id()["name"] == "fake"
            assert node.id()["name"] == "fake"
    finally:
        fake.close()


def test_events_kept_are_bounded_and_the_loss_is_reported():
    def chatty(req, push):
        for k in range(5):
            push({"event": "message", "text": str(k)})
        return FakeNode.default(req, push)

    fake = FakeNode(chatty)
    try:
        with airswarm.NodeClient(fake.address, timeout=5, max_events=3) as node:
            node.id()
            got = list(node.events(timeout=0.3))
    finally:
        fake.close()
    assert got[0] == {"event": "lagged", "missed": 2}
    assert [e["text"] for e in got[1:]] == ["2", "3", "4"]


def test_one_thread_reads_events_while_another_sends(fake):
    seen = []
    with airswarm.NodeClient(fake.address, timeout=5) as node:

        def reader():
            for e in node.events(timeout=1.0):
                seen.append(e["text"])
                if len(seen) == 20:
                    return

        t = threading.Thread(target=reader)
        t.start()
        for k in range(20):
            assert node.send("m%d" % k, channel="ops") == 7
        t.join(10)
        assert not t.is_alive()
    assert seen == ["m%d" % k for k in range(20)]


def test_connection_failures_are_node_errors():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(NodeError, match="cannot connect to the node") as e:
        airswarm.NodeClient("127.0.0.1:%d" % port, timeout=2)
    assert isinstance(e.value.__cause__, OSError)

    def hang_up(req, push):
        raise OSError("hang up")  # the fake closes the connection without a reply

    fake = FakeNode(hang_up)
    try:
        node = airswarm.NodeClient(fake.address, timeout=5)
        with pytest.raises(NodeError, match="closed the connection"):
            node.id()
        with pytest.raises(NodeError, match="closed the connection"):
            node.id()
        node.close()
        with pytest.raises(NodeError, match="closed"):
            list(node.events(timeout=0.1))
    finally:
        fake.close()


def test_a_full_node_turns_the_connection_down():
    def full(req, push):
        return None

    fake = FakeNode(full)
    try:
        node = airswarm.NodeClient(fake.address, timeout=2)
        deadline = time.monotonic() + 5
        while not fake.conns and time.monotonic() < deadline:
            time.sleep(0.01)
        fake.conns[0].sendall(b'{"ok":false,"error":"too many API connections"}\n')
        with pytest.raises(NodeError, match="too many API connections"):
            node.id()
        with pytest.raises(NodeError, match="too many API connections"):
            node.peers()
        node.close()
    finally:
        fake.close()


def test_after_close_calls_fail(fake):
    node = airswarm.NodeClient(fake.address, timeout=2)
    node.close()
    node.close()  # twice is fine
    with pytest.raises(NodeError, match="closed"):
        node.id()
    assert repr(node) == "NodeClient(%r)" % fake.address


def _has_subcommand(binary, name):
    try:
        r = subprocess.run([binary, name, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@pytest.fixture
def processes():
    """Processes a test starts, killed by PID (and reaped) however the test ends."""
    started = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def _connect(address, proc, deadline):
    while True:
        try:
            return airswarm.NodeClient(address, timeout=10)
        except NodeError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the node at %s did not start (exit %s)" % (address, proc.poll()))
            time.sleep(0.1)


def test_two_real_nodes_on_the_virtual_air(tmp_path, processes):
    # `airswarm air` is a shared virtual radio channel; two nodes on it, each with its API.
    binary = os.environ.get("AIRSWARM_BIN") or shutil.which("airswarm")
    if not binary or not _has_subcommand(binary, "node") or not _has_subcommand(binary, "air"):
        pytest.skip("the airswarm binary has no `node` and `air` subcommands yet")
    air = "127.0.0.1:%d" % free_port()  # `airswarm air` is UDP
    processes.append(subprocess.Popen([binary, "air", "--listen", air], stdout=subprocess.DEVNULL))
    apis = {}
    for name in ("alice", "bob"):
        apis[name] = "127.0.0.1:%d" % free_port()
        cmd = [binary, "node", "--home", str(tmp_path / name), "--name", name,
               "--radio", "air:" + air, "--api", apis[name]]
        processes.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 60
    alice = _connect(apis["alice"], processes[1], deadline)
    bob = _connect(apis["bob"], processes[2], deadline)
    with alice, bob:
        assert alice.id()["name"] == "alice"
        assert len(bob.id()["fingerprint"]) == 64
        for node in (alice, bob):
            node.join("ops", passphrase="a test passphrase for ops")
            assert {"name": "ops"} in node.channels()
        with pytest.raises(NodeError, match="not in channel"):
            alice.send("x", channel="nowhere")
        got = None
        # A node's radio may join the air a little after its API answers: send again
        # (at most three times) until bob has it.
        for _ in range(3):
            msg_id = alice.send("hello, ops", channel="ops")
            sent = alice.events(timeout=2)
            assert any(e["event"] == "sent" and e["msg_id"] == msg_id for e in sent)
            for e in bob.events(timeout=20):
                if e["event"] == "message" and e["text"] == "hello, ops":
                    got = e
                    break
            if got is not None:
                break
        assert got is not None and got["channel"] == "ops"
        assert any(m["text"] == "hello, ops" for m in bob.history(10, channel="ops"))
        # A file from alice to bob over the air: offered, fetched, written byte-identical.
        data = bytes(range(256)) * 6  # 1536 bytes: three pieces
        (tmp_path / "notes.bin").write_bytes(data)
        with pytest.raises(NodeError, match="cannot read"):
            alice.share(str(tmp_path / "missing.bin"))
        shared = alice.share(str(tmp_path / "notes.bin"), channel="ops")
        assert shared["size"] == len(data) and shared["pieces"] == 3
        assert alice.files()[0]["state"] == "shared"
        complete = None
        for e in bob.events(timeout=240):
            if e["event"] == "file_offered" and e["file"] == shared["file"]:
                assert e["name"] == "notes.bin"
                assert bob.fetch(shared["file"])["state"] == "fetching"
            if e["event"] == "file_complete" and e["file"] == shared["file"]:
                complete = e
                break
        assert complete is not None, "bob never completed the file"
        with open(complete["path"], "rb") as f:
            assert f.read() == data
        assert [f["state"] for f in bob.files() if f["file"] == shared["file"]] == ["complete"]
