"""SecureNode from Python: keys pinned from signed announcements, a session set up by a
handshake and a sealed direct message, group channels, signed names, and bad input
refused with clear errors."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import airswarm

# RSA keys cost a fraction of a second each: made once for the module.
IDS = [airswarm.Identity.generate() for _ in range(3)]
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def nodes(n, **kw):
    return [airswarm.SecureNode(IDS[i], seed=i, rng_seed=bytes([i + 1]) * 32, **kw) for i in range(n)]


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


# Neighbours in a line: A - B - C (A and C do not hear each other).
LINE = [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_announcements_pin_keys_and_carry_signed_names():
    a, b = nodes(2)
    a.set_name("alice")
    assert a.address == IDS[0].address and a.fingerprint == IDS[0].fingerprint
    assert a.public == IDS[0].public
    a.announce(0)
    b.announce(0)
    run = airswarm.Mesh([a, b]).run()
    ev_a, ev_b = run.events_of(0), run.events_of(1)
    pinned = of(airswarm.PeerPinned, ev_b)
    assert [(p.address, p.fingerprint) for p in pinned] == [(a.address, a.fingerprint)]
    named = of(airswarm.Announced, ev_b)
    assert named and named[0].name == "alice" and named[0].fingerprint == a.fingerprint
    assert of(airswarm.Announced, ev_a)[0].name is None
    # The keyring property is a copy with what the node pinned over the air.
    ring = b.keyring
    assert a.fingerprint in ring and len(ring) == 1
    ring.remove(a.fingerprint)
    assert a.fingerprint in b.keyring
    assert "alice" in repr(named[0]) and "PeerPinned(address=0x" in repr(pinned[0])
    # The constructor takes the name too, checked the same way.
    airswarm.SecureNode(IDS[2], name="carol")
    with pytest.raises(airswarm.ConfigError, match="white space"):
        airswarm.SecureNode(IDS[2], name=" carol")
    with pytest.raises(airswarm.ConfigError, match="bytes"):
        a.set_name("x" * (airswarm.MAX_NAME_LEN + 1))
    a.set_name(None)


def test_an_announcement_to_one_node_is_pinned_there_not_on_the_way():
    a, b, c = nodes(3)
    a.announce_to(0, c.address)  # two hops: b relays it
    run = airswarm.Mesh([a, b, c], links=LINE).run()
    assert [p.address for p in of(airswarm.PeerPinned, run.events_of(2))] == [a.address]
    assert of(airswarm.PeerPinned, run.events_of(1)) == []
    with pytest.raises(airswarm.MeshError, match="itself"):
        a.announce_to(0, a.address)


def test_announcement_airtime_is_the_frames_it_puts_on_the_air():
    lora = airswarm.LoRaConfig(spreading_factor=9)
    (a,) = nodes(1, lora=lora)
    for name in (None, "a fairly long name"):
        a.set_name(name)
        a.announce(0)
        frames = []
        while (f := a.poll_transmit()) is not None:
            frames.append(f)
        assert len(frames) == 3
        us = sum(lora.time_on_air_us(len(f)) for f in frames)
        assert a.announcement_airtime_ms == -(-us // 1000), name


def test_a_sealed_direct_message_waits_for_its_session():
    a, b = nodes(2)
    a.announce(0)
    b.announce(0)
    mesh = airswarm.Mesh([a, b])
    mesh.run()
    ticket = a.send(mesh.now_ms, b.address, b"hello bob")
    assert isinstance(ticket, airswarm.AwaitingSession) and ticket.ticket > 0
    run = mesh.run()
    ev_a, ev_b = run.events_of(0), run.events_of(1)
    assert [e.fingerprint for e in of(airswarm.SessionEstablished, ev_a)] == [b.fingerprint]
    sent = of(airswarm.Sent, ev_a)
    assert [(s.dst, s.ticket) for s in sent] == [(b.address, ticket.ticket)]
    got = of(airswarm.SecureMessage, ev_b)
    assert len(got) == 1
    m = got[0]
    assert (m.src, m.dst, m.id, m.payload) == (a.address, b.address, sent[0].id, b"hello bob")
    assert (m.security, m.sender, m.channel) == ("session", a.fingerprint, None)
    assert any(isinstance(e, airswarm.Delivered) and e.id == sent[0].id for e in ev_a)
    # Now the session is up: the reply is sealed at once and gets an id, by fingerprint too.
    reply = b.send_to(mesh.now_ms, a.fingerprint, b"hi alice")
    assert isinstance(reply, int)
    again = b.send_to(mesh.now_ms, bytes.fromhex(a.fingerprint), b"twice")
    ev_a = mesh.run().events_of(0)
    msgs = of(airswarm.SecureMessage, ev_a)
    assert [(x.id, x.payload, x.security) for x in msgs] == [
        (reply, b"hi alice", "session"),
        (again, b"twice", "session"),
    ]
    assert not of(airswarm.Rejected, ev_a)
    assert a.stats()["frames_sent"] >= 1 and list(a.stats()) == list(airswarm._native.NODE_STATS_FIELDS)


def test_channel_messages_on_several_channels_through_a_relay():
    a, b, c = nodes(3)
    for n in (a, b, c):
        assert n.join_channel(airswarm.Channel(KEY)) == 0
        assert n.join_channel(KEY) == 0  # joined already: same index
    assert a.join_channel(OTHER_KEY) == 1 and c.join_channel(airswarm.Channel(OTHER_KEY)) == 1
    assert a.channel_count == 2 and b.channel_count == 1
    a.send(0, airswarm.BROADCAST, b"to everyone")  # channel 0
    second = a.send_on_channel(0, 1, b"second channel")
    near = a.send_on_channel_one_hop(0, 0, b"neighbours only")
    run = airswarm.Mesh([a, b, c], links=LINE).run()
    ev_b, ev_c = run.events_of(1), run.events_of(2)
    at_b = {m.payload: m for m in of(airswarm.SecureMessage, ev_b)}
    at_c = {m.payload: m for m in of(airswarm.SecureMessage, ev_c)}
    assert set(at_b) == {b"to everyone", b"neighbours only"}  # B is not on channel 1
    assert set(at_c) == {b"to everyone", b"second channel"}  # one hop never reaches C
    assert at_c[b"second channel"].channel == 1 and at_c[b"second channel"].id == second
    assert at_c[b"to everyone"].hops >= 1 and at_b[b"neighbours only"].id == near
    m = at_b[b"to everyone"]
    assert (m.security, m.sender, m.channel, m.dst) == ("channel", None, 0, airswarm.BROADCAST)
    # B relayed channel 1 without opening it, and refused nothing it could not read.
    assert not of(airswarm.Rejected, ev_c)


def test_a_mesh_runs_secure_nodes_and_refuses_a_mix():
    a, b, c = nodes(3)
    for n in (a, b, c):
        n.join_channel(KEY)
    mesh = airswarm.Mesh([a, b, c], links=LINE, now_ms=7)
    assert all(m is n for m, n in zip(mesh.nodes, (a, b, c))) and len(mesh.nodes) == 3
    msg = a.send(mesh.now_ms, airswarm.BROADCAST, b"over the line")
    run = mesh.run()
    # C, out of A's range, got it through B, at a time within the run.
    got = [(t, e) for t, i, e in run.events if i == 2 and isinstance(e, airswarm.SecureMessage)]
    assert [(e.payload, e.id, e.channel, e.hops) for _, e in got] == [(b"over the line", msg, 0, 1)]
    assert 7 <= got[0][0] <= run.now_ms == mesh.now_ms
    # A's frame went on the air first, then B's relay; every frame is in `sent`.
    senders = [s for _, s, _ in run.sent]
    assert senders[:2] == [0, 1] and run.frames == len(run.sent)
    assert all(isinstance(f, bytes) and t >= 7 for t, _, f in run.sent)
    assert all(n.poll_event() is None for n in (a, b, c))  # the run collected them
    with pytest.raises(TypeError, match="node 1 is a Node but node 0 is a SecureNode"):
        airswarm.Mesh([a, airswarm.Node(9)])
    with pytest.raises(TypeError, match="node 1 is a SecureNode but node 0 is a Node"):
        airswarm.Mesh([airswarm.Node(9), a])
    with pytest.raises(TypeError, match="node 2 is of type str, not Node or SecureNode"):
        airswarm.Mesh([a, b, "c"])  # type: ignore[list-item]
    with pytest.raises(airswarm.ConfigError, match="twice"):
        airswarm.Mesh([a, b, a])


def test_signed_channel_messages_name_their_signer():
    a, b = nodes(2, sign_channel=True)
    for n in (a, b):
        n.join_channel(KEY)
        n.announce(0)
    mesh = airswarm.Mesh([a, b])
    mesh.run()
    a.send_on_channel(mesh.now_ms, 0, b"signed")
    (m,) = of(airswarm.SecureMessage, mesh.run().events_of(1))
    assert (m.security, m.sender, m.channel) == ("channel_signed", a.fingerprint, 0)


def test_pin_keyring_and_replay_state_round_trip():
    a, b = nodes(2)
    assert a.pin(b.public) is True and a.pin(b.public.to_pem().encode()) is False
    ring = airswarm.Keyring()
    ring.pin(IDS[2].public)
    c = airswarm.SecureNode(IDS[0], ring, rng_seed=bytes(32))
    assert len(c.keyring) == 1
    c.set_keyring(airswarm.Keyring())
    assert len(c.keyring) == 0
    # A direct message to a key pinned by hand (no announcements): the handshake sets up
    # the session once B knows A's key too.
    b.pin(a.public)
    ticket = a.send(0, b.address, b"pinned by hand")
    assert isinstance(ticket, airswarm.AwaitingSession)
    mesh = airswarm.Mesh([a, b])
    ev_b = mesh.run().events_of(1)
    assert [m.payload for m in of(airswarm.SecureMessage, ev_b)] == [b"pinned by hand"]
    # The replay state (B's handshake counter from A, its two channels' windows) goes
    # into a restarted B that joined the same channels; without them it is refused.
    for n in (a, b):
        n.join_channel(KEY)
        n.join_channel(OTHER_KEY)
    a.send_on_channel(mesh.now_ms, 1, b"heard before the restart")
    heard = [frame for _, sender, frame in mesh.run().sent if sender == 0]
    assert heard
    now = mesh.now_ms
    state = b.replay_state()

    def restart():
        n = airswarm.SecureNode(IDS[1], b.keyring, rng_seed=bytes(32))
        n.join_channel(KEY)
        n.join_channel(OTHER_KEY)
        return n

    with pytest.raises(airswarm.CryptoError):
        airswarm.SecureNode(IDS[1]).restore_replay_state(state)  # no channels joined
    restarted, forgetful = restart(), restart()
    restarted.restore_replay_state(state)
    assert restarted.replay_state() == state
    # The frames heard before, played again: the restored node refuses them as replays,
    # one that forgot its state takes them.
    for n in (restarted, forgetful):
        for frame in heard:
            n.handle_frame(now, frame, -70.0, 8.0)
    # Neither hears the other: the run only collects what the frames did.
    run = airswarm.Mesh([restarted, forgetful], links=[], now_ms=now).run()
    ev_r, ev_f = run.events_of(0), run.events_of(1)
    assert not of(airswarm.SecureMessage, ev_r)
    assert any("replay" in r.reason for r in of(airswarm.Rejected, ev_r))
    assert [m.payload for m in of(airswarm.SecureMessage, ev_f)] == [b"heard before the restart"]


def test_bad_input_gives_clear_errors():
    a, b = nodes(2)
    # Garbage frames: DecodeError, and counted.
    for junk in (b"", b"\x00\x01", bytes(300)):
        with pytest.raises(airswarm.DecodeError):
            a.handle_frame(0, junk, -50.0, 5.0)
        with pytest.raises(airswarm.DecodeError):
            a.handle_frame_off_air(0, junk, -50.0, 5.0)
    assert a.stats()["bad_frames"] == 6
    # Unknown channel index, no peer at that address, sending to itself.
    with pytest.raises(airswarm.MeshError, match="no channel 0"):
        a.send_on_channel(0, 0, b"x")
    a.join_channel(KEY)
    with pytest.raises(airswarm.MeshError, match="no channel 3"):
        a.send_on_channel_one_hop(0, 3, b"x")
    with pytest.raises(airswarm.ConfigError):
        a.send_on_channel(0, 256, b"x")
    with pytest.raises(airswarm.CryptoError, match="announce|pinned|unknown|no key"):
        a.send(0, b.address, b"x")
    with pytest.raises(airswarm.MeshError, match="itself"):
        a.send(0, a.address, b"x")
    with pytest.raises(airswarm.MeshError, match="exceeds"):
        a.send(0, airswarm.BROADCAST, bytes(airswarm.MAX_MESSAGE + 1))
    for key in range(1, airswarm.MAX_CHANNELS):
        a.join_channel(bytes([key]) * 32)
    with pytest.raises(airswarm.MeshError, match="channels already"):
        a.join_channel(bytes([99]) * 32)
    # Wrong types and sizes.
    with pytest.raises(TypeError):
        airswarm.SecureNode(b"not an identity")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        airswarm.SecureNode(IDS[0], "not a keyring")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        a.join_channel(7)  # type: ignore[arg-type]
    with pytest.raises(airswarm.CryptoError, match="32 bytes"):
        a.join_channel(b"short")
    with pytest.raises(TypeError):
        a.send_to(0, 12, b"x")  # type: ignore[arg-type]
    with pytest.raises(airswarm.ConfigError, match="hex"):
        a.send_to(0, "zz", b"x")
    with pytest.raises(airswarm.ConfigError, match="32 bytes"):
        a.send_to(0, b"\x01\x02", b"x")
    with pytest.raises(airswarm.ConfigError, match="32 bytes"):
        airswarm.SecureNode(IDS[0], rng_seed=b"short")
    with pytest.raises(airswarm.ConfigError):
        airswarm.SecureNode(IDS[0], hop_limit=99)
    with pytest.raises(airswarm.ConfigError):
        airswarm.SecureNode(IDS[0], duty_cycle=0.0)
    with pytest.raises(airswarm.ConfigError):
        airswarm.SecureNode(IDS[0], strategy="carrier-pigeon")
    with pytest.raises(airswarm.ConfigError):
        a.handle_timeout(-1)
    with pytest.raises(airswarm.ConfigError):
        a.pin(3)  # type: ignore[arg-type]
    with pytest.raises(airswarm.CryptoError):
        a.pin(b"not a key")
    # A saved replay state that is not one: refused whole, nothing changes.
    before = a.replay_state()
    for garbage in (b"", b"\x07junk", b"\x01\xff\xff\xff\xff", before[:-1] + b"\x00" * 3):
        with pytest.raises(airswarm.CryptoError, match="replay state|malformed|channel"):
            a.restore_replay_state(garbage)
    assert a.replay_state() == before
    # Nothing of that put a frame on the air or refused anything over the air.
    assert a.poll_transmit() is None
    run = airswarm.Mesh([a]).run()
    assert run.frames == 0 and run.sent == []
    assert all(isinstance(e, airswarm.PersistCounter) for e in run.events_of(0))


def sealed_frame():
    """One channel-sealed frame from a node on KEY."""
    (a,) = nodes(1)
    a.join_channel(KEY)
    a.send_on_channel(0, 0, b"the original")
    ((_, sender, frame),) = airswarm.Mesh([a]).run().sent
    assert sender == 0
    return frame


FRAME = sealed_frame()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.builds(lambda i, x: (i, x), st.integers(0, len(FRAME) - 1), st.integers(1, 255)))
def test_random_and_altered_frames_are_refused(case):
    b = airswarm.SecureNode(IDS[1], seed=1, rng_seed=bytes(32))
    b.join_channel(KEY)
    if isinstance(case, bytes):
        frame = case
    else:
        at, flip = case
        frame = bytearray(FRAME)
        frame[at] ^= flip
        frame = bytes(frame)
    try:
        b.handle_frame(0, frame, -70.0, 8.0)
    except airswarm.DecodeError:
        assert b.stats()["bad_frames"] == 1
    ev = airswarm.Mesh([b]).run().events_of(0)
    # Whatever got through opened as the original (only relay-rewritten bytes may differ).
    assert all(m.payload == b"the original" for m in of(airswarm.SecureMessage, ev))
    b.restore_replay_state(b.replay_state())
    try:
        b.restore_replay_state(frame)
    except airswarm.CryptoError:
        pass
