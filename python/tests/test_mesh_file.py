"""Files over the mesh from Python: three secure nodes in a line A - B - C (A and C out
of each other's range) move a multi-piece file from A to C through B, byte-identical,
sealed with their group channel; bad input gives clear errors and changes nothing."""

import pytest

import airswarm

# RSA keys (generation costs a fraction of a second each): A's is the sharer's.
IDS = [airswarm.Identity.generate() for _ in range(3)]
SHARER = IDS[0]
CHANNEL_KEY = bytes(range(32))
DATA = bytes((i * 131 + (i >> 7)) & 0xFF for i in range(5000))  # 8 pieces of 640 bytes


# Neighbours in a line: A - B - C.
LINE = [(0, 1), (1, 0), (1, 2), (2, 1)]


def run(mesh, engines, until, done):
    """Runs of the core's exchange loop (`airswarm.Mesh`: radio between neighbours) with
    the file engines between them: file payloads the nodes opened with their channel go
    to each engine (which checks metainfo signatures with the keys its node pinned),
    offered files are fetched, engine messages are sealed on channel 0 (scope "neighbours"
    one hop, "mesh" flooded); when all is quiet the clock moves to the earliest engine
    timer. Stops at `until`, when no timer is due by then, or once `done(events)`.
    Returns the engine events per node."""
    nodes = mesh.nodes
    events = [[] for _ in nodes]
    while mesh.now_ms < until and not done(events):
        due = [t for fm in engines if (t := fm.poll_timeout()) is not None]
        r = mesh.run(until_ms=min([*due, until]))
        busy = r.frames > 0
        for at, i, ev in r.events:
            fm = engines[i]
            if isinstance(ev, airswarm.SecureMessage) and ev.channel == 0 and fm.is_file_payload(ev.payload):
                fm.handle_message(at, ev.src, ev.payload, nodes[i])
        now = mesh.now_ms
        for i, (node, fm) in enumerate(zip(nodes, engines)):
            fm.handle_timeout(now)
            while (fe := fm.poll_event()) is not None:
                busy = True
                events[i].append(fe)
                if fe.kind == "offered":
                    fm.fetch(now, fe.file)
            fm.set_channel_utilisation(node.channel_utilisation_percent(now))
            while (out := fm.poll_transmit(now, node.queued_frames)) is not None:
                busy = True
                scope, payload = out
                if scope == "mesh":
                    node.send_on_channel(now, 0, payload)
                else:
                    node.send_on_channel_one_hop(now, 0, payload)
        if busy:
            continue
        due = [t for fm in engines if (t := fm.poll_timeout()) is not None]
        if not due or min(due) > until:
            break
        mesh.now_ms = max(now + 1, min(due))
    return events


def three_nodes():
    nodes = [airswarm.SecureNode(IDS[i], seed=i, rng_seed=bytes([i + 1]) * 32) for i in range(3)]
    for n in nodes:
        assert n.join_channel(airswarm.Channel(CHANNEL_KEY)) == 0
    engines = [airswarm.FileMesh(n.address, seed=i) for i, n in enumerate(nodes)]
    return nodes, engines


def test_a_file_moves_from_a_to_c_through_b():
    nodes, engines = three_nodes()
    # Every node announces its key; B relays A's, so C pins the sharer's key too.
    for n in nodes:
        n.announce(0)
    mesh = airswarm.Mesh(nodes, links=LINE, rssi=-90.0, snr=5.0)
    run(mesh, engines, 600_000, lambda ev: False)
    assert all(SHARER.fingerprint in n.keyring for n in nodes[1:])
    now = mesh.now_ms
    file_id = engines[0].share(now, SHARER, "sample.bin", DATA)
    assert len(file_id) == 16 and int(file_id, 16) >= 0
    assert engines[0].data(file_id) == DATA
    events = run(mesh, engines, now + 6 * 3600 * 1000, lambda ev: any(e.kind == "completed" for e in ev[2]))
    now = mesh.now_ms
    got = engines[2].data(file_id)
    assert got == DATA, f"node C has no complete copy by t={now} ms"
    # C was offered the file (A's metainfo reached it through B) and got all 8 pieces.
    offered = [e for e in events[2] if e.kind == "offered"]
    assert offered and offered[0].name == "sample.bin" and offered[0].size == len(DATA)
    pieces = [e for e in events[2] if e.kind == "piece"]
    assert sorted(e.index for e in pieces) == list(range(8))
    assert pieces[-1].have == pieces[-1].pieces == 8
    # B relayed by holding the pieces itself: it completed too, before C.
    assert engines[1].data(file_id) == DATA
    status = {f["file"]: f for f in engines[2].files()}[file_id]
    assert status["have"] == status["pieces"] == 8 and status["name"] == "sample.bin"
    # A and C never heard each other: everything C got came through B.
    assert all(e.kind != "peer_banned" for ev in events for e in ev)
    # The id as bytes works too.
    assert engines[2].data(bytes.fromhex(file_id)) == DATA

    # Resume from the saved metainfo and a copy with piece 3 damaged: 7 of 8 pieces kept.
    meta = engines[2].meta(file_id)
    damaged = bytearray(DATA)
    damaged[3 * 640 + 1] ^= 0xFF
    fresh = airswarm.FileMesh(3)
    assert fresh.resume(now, meta, bytes(damaged)) == file_id
    assert fresh.files()[0]["have"] == 7
    assert fresh.data(file_id) is None

    # The sharer can flood its metainfo again (for newcomers); a file not held cannot be.
    engines[0].reannounce(file_id)
    out = engines[0].poll_transmit(now + 10**9)
    assert out is not None and out[0] == "mesh"
    with pytest.raises(airswarm.MeshError):
        airswarm.FileMesh(9).reannounce(file_id)


def test_bad_input_gives_clear_errors():
    nodes, engines = three_nodes()
    # C has the sharer's key pinned (by hand here; over the air in the test above).
    fm, ring = engines[2], nodes[2]
    assert ring.pin(SHARER.public)
    file_id = engines[0].share(0, SHARER, "a.bin", DATA)
    meta = engines[0].meta(file_id)
    # Corrupt payloads: not file messages, truncated ones, junk after the tag.
    for junk in (b"", b"\x00hello", b"\xf1", b"\xf1\x02", b"\xf1\x03\x01\x02", b"\xf1\x09" + bytes(40)):
        with pytest.raises(airswarm.DecodeError):
            fm.handle_message(1, 2, junk, ring)
    assert not airswarm.FileMesh.is_file_payload(b"\x00hello")
    # A metainfo whose signature was tampered with: CryptoError, a "rejected" event, nothing offered.
    tampered = b"\xf1\x01" + meta[:-1] + bytes([meta[-1] ^ 1])
    with pytest.raises(airswarm.CryptoError, match="signature"):
        fm.handle_message(1, 1, tampered, ring)
    ev = fm.poll_event()
    assert ev is not None and ev.kind == "rejected" and "signature" in ev.reason
    # The genuine metainfo from a sharer nobody pinned: refused the same way.
    with pytest.raises(airswarm.CryptoError):
        fm.handle_message(1, 1, b"\xf1\x01" + meta, airswarm.Keyring())
    with pytest.raises(airswarm.CryptoError):
        fm.handle_message(1, 1, b"\xf1\x01" + meta, nodes[1])
    with pytest.raises(TypeError, match="Keyring or a SecureNode"):
        fm.handle_message(1, 1, b"\xf1\x01" + meta, "keys")  # type: ignore[arg-type]
    # Unknown and malformed ids.
    with pytest.raises(airswarm.MeshError, match="no file"):
        fm.fetch(1, file_id)
    with pytest.raises(airswarm.MeshError):
        fm.data("00" * 8)
    with pytest.raises(airswarm.MeshError):
        fm.meta(file_id)
    with pytest.raises(airswarm.ConfigError, match="16 hex digits"):
        fm.fetch(1, "xyz")
    with pytest.raises(airswarm.ConfigError, match="8 bytes"):
        fm.data(b"\x01\x02")
    with pytest.raises(TypeError):
        fm.data(12)  # type: ignore[arg-type]
    # Bad share arguments.
    a = engines[0]
    with pytest.raises(airswarm.ConfigError, match="file name"):
        a.share(1, SHARER, "../etc/passwd", DATA)
    with pytest.raises(airswarm.ConfigError, match="0 bytes"):
        a.share(1, SHARER, "a.bin", b"")
    with pytest.raises(airswarm.ConfigError, match="piece length"):
        a.share(1, SHARER, "a.bin", DATA, piece_len=10)
    with pytest.raises(airswarm.ConfigError, match="piece length"):
        a.share(1, SHARER, "a.bin", DATA, piece_len=1 << 40)
    with pytest.raises(airswarm.ConfigError):
        airswarm.FileMesh(-1)
    with pytest.raises(airswarm.ConfigError):
        airswarm.FileMesh(1, requests_per_peer=0)
    with pytest.raises(airswarm.ConfigError, match="polite_channel_util_percent"):
        airswarm.FileMesh(1, polite_channel_util_percent=101.0)
    with pytest.raises(airswarm.DecodeError):
        fm.resume(1, b"ASF1junk", DATA)
    # None of that changed anything: C still has no file, A still serves its own.
    assert fm.files() == [] and a.data(file_id) == DATA


def test_simulator_file_options_and_keys():
    r = airswarm.Simulator(nodes=6, area_m=2000, messages=0, seed=2, file_kib=2).run()
    f = r.file
    assert f is not None
    for key in (
        "file_nodes_complete",
        "file_nodes_total",
        "file_airtime_s",
        "file_completion_p95_s",
        "file_bytes_identical",
    ):
        assert key in f and r.to_dict()[key] == f[key]
    assert f["file_mode"] == "swarm" and f["file_nodes_total"] == 5
    assert airswarm.Simulator(nodes=6, messages=0).run().file is None
    with pytest.raises(airswarm.ConfigError, match="file mode"):
        airswarm.Simulator(file_kib=2, file_mode="carrier-pigeon")
    with pytest.raises(airswarm.ConfigError):
        airswarm.Simulator(nodes=6, file_kib=2000)
    with pytest.raises(airswarm.ConfigError, match="liars"):
        airswarm.Simulator(nodes=6, file_kib=2, liars=10**12)


def test_file_traffic_waits_while_the_channel_is_busy():
    nodes, engines = three_nodes()
    a = engines[0]
    a.share(0, SHARER, "a.bin", DATA)
    # Above the polite 25 % of the last minute, nothing goes out; a timer says when to look again.
    a.set_channel_utilisation(30.0)
    assert a.poll_transmit(0) is None
    again = a.poll_timeout()
    assert again is not None and again > 0
    a.set_channel_utilisation(nodes[0].channel_utilisation_percent(again))
    assert nodes[0].channel_utilisation_percent(again) == 0.0
    scope, _ = a.poll_transmit(again)
    assert scope == "mesh"
    # Set to 0, file traffic is held back whatever the channel carries.
    strict = airswarm.FileMesh(nodes[1].address, polite_channel_util_percent=0.0)
    strict.share(0, SHARER, "b.bin", DATA)
    assert strict.poll_transmit(0) is None
