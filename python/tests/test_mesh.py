import threading
import time

import pytest

import airswarm


def test_airtime_matches_semtech_formula():
    # SF7/125 kHz, CR 4/5, 8-symbol preamble, explicit header, CRC: 55.25 symbols of 1.024 ms.
    assert airswarm.airtime(sf=7, bw_khz=125, payload=20) == pytest.approx(56.576)
    # SF12 turns on low-data-rate optimisation automatically (symbol > 16 ms).
    auto = airswarm.airtime(sf=12, bw_khz=125, payload=50)
    assert auto == airswarm.airtime(sf=12, bw_khz=125, payload=50, ldro="on")
    assert auto > airswarm.airtime(sf=12, bw_khz=125, payload=50, ldro="off")
    assert airswarm.airtime(payload=20, implicit_header=True) < airswarm.airtime(payload=20)
    assert airswarm.airtime(payload=20, preamble=16) > airswarm.airtime(payload=20)


def test_airtime_rejects_bad_settings():
    with pytest.raises(airswarm.ConfigError, match="spreading factor"):
        airswarm.airtime(sf=13, payload=50)
    with pytest.raises(airswarm.ConfigError):
        airswarm.airtime(sf=7, payload=10, ldro="sometimes")
    with pytest.raises(airswarm.ConfigError):
        airswarm.airtime(payload=10, cr=9)
    with pytest.raises(TypeError):
        airswarm.airtime(10)  # keyword only


def test_lora_config_is_frozen_hashable_value():
    a = airswarm.LoRaConfig(spreading_factor=9, bandwidth_hz=250_000)
    b = airswarm.LoRaConfig(spreading_factor=9, bandwidth_hz=250_000)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != airswarm.LoRaConfig()
    with pytest.raises(AttributeError):
        a.spreading_factor = 7  # type: ignore[misc]
    assert a.time_on_air_ms(20) == pytest.approx(airswarm.airtime(sf=9, bw_khz=250, payload=20))
    assert a.time_on_air_us(20) == round(a.time_on_air_ms(20) * 1000)
    assert a.sensitivity_dbm() < airswarm.LoRaConfig().sensitivity_dbm()
    assert "spreading_factor=9" in repr(a)
    with pytest.raises(airswarm.ConfigError):
        airswarm.LoRaConfig(spreading_factor=4)


def test_simulator_runs_deterministically_with_plain_data():
    sim = airswarm.Simulator(nodes=12, messages=4, seed=3, record_messages=True)
    r1, r2 = sim.run(), sim.run()
    assert r1.to_dict() == r2.to_dict()
    assert 0.0 <= r1.delivery_ratio <= 1.0
    assert r1.nodes == 12 and r1.messages == 4
    assert len(r1.per_node) == 12 and set(r1.per_node[0]) >= {"x_m", "y_m", "delivery_ratio"}
    assert len(r1.message_records) == 4
    assert [(n["x_m"], n["y_m"]) for n in r1.per_node] == sim.positions()
    assert airswarm.Simulator(nodes=12, messages=4, seed=3).run().message_records is None
    import json

    json.dumps(r1.to_dict())


def test_simulator_strategies_and_errors():
    blind = airswarm.Simulator(nodes=20, messages=5, strategy="blind", seed=2).run()
    assert blind.strategy == "blind"
    with pytest.raises(airswarm.ConfigError, match="strategy"):
        airswarm.Simulator(strategy="gossip")
    with pytest.raises(airswarm.ConfigError, match="2 nodes"):
        airswarm.Simulator(nodes=1)
    with pytest.raises(airswarm.ConfigError):
        airswarm.Simulator(duty_cycle=150)
    with pytest.raises(airswarm.ConfigError):
        airswarm.Simulator(sf=3)


def test_simulator_releases_the_gil():
    # Long enough (a few hundred ms) that a busy machine's scheduling cannot hide the
    # difference: with the GIL held, this thread could not tick at all.
    sim = airswarm.Simulator(nodes=300, messages=200, seed=5)
    ticks = 0
    done = threading.Event()

    def run():
        sim.run()
        done.set()

    t = threading.Thread(target=run)
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    # The Python thread kept running while the simulation ran (it would be starved if
    # the run held the GIL for its whole duration).
    assert ticks > 1


def test_two_nodes_exchange_a_direct_message_with_ack():
    a, b = airswarm.Node(1, seed=1), airswarm.Node(2, seed=2)
    msg_id = a.send(0, 2, b"hello bob")
    run = airswarm.Mesh([a, b]).run()
    assert run.frames == 2  # the message and its acknowledgement
    assert [(t, s) for t, s, _ in run.sent] == [(0, 0), (0, 1)]
    assert run.sent[0][2] != run.sent[1][2] and all(isinstance(f, bytes) for _, _, f in run.sent)
    received = [e for e in run.events_of(1) if isinstance(e, airswarm.MessageReceived)]
    assert len(received) == 1
    m = received[0]
    assert (m.src, m.dst, m.id, m.payload, m.content) == (1, 2, msg_id, b"hello bob", "plain")
    assert any(
        isinstance(e, airswarm.Delivered) and e.id == msg_id and e.dst == 2
        for e in run.events_of(0)
    )
    assert b.poll_event() is None and a.poll_event() is None  # the run collected them
    stats = a.stats()
    assert stats["frames_sent"] >= 1
    assert stats["route_fallbacks"] == 0  # one hop: nothing was handed over and lost


def test_broadcast_reaches_everyone():
    nodes = [airswarm.Node(i + 1, seed=i) for i in range(3)]
    nodes[0].send(0, airswarm.BROADCAST, b"all")
    run = airswarm.Mesh(nodes).run()
    for i in (1, 2):
        assert any(
            isinstance(e, airswarm.MessageReceived) and e.payload == b"all"
            for e in run.events_of(i)
        )


def test_mesh_links_times_and_resumed_runs():
    # A line 1 - 2 - 3: node 3 hears only node 2, so node 2 relays the message once.
    nodes = [airswarm.Node(i + 1, seed=i) for i in range(3)]
    mesh = airswarm.Mesh(nodes, links=[(0, 1), (1, 0), (1, 2), (2, 1)], now_ms=5)
    assert mesh.nodes[2] is nodes[2] and mesh.now_ms == 5
    msg_id = nodes[0].send(mesh.now_ms, 3, b"far")
    run = mesh.run()
    got = [(t, e) for t, i, e in run.events if i == 2 and isinstance(e, airswarm.MessageReceived)]
    assert [(e.payload, e.hops) for _, e in got] == [(b"far", 1)]
    assert 5 <= got[0][0] <= run.now_ms == mesh.now_ms
    assert any(isinstance(e, airswarm.Delivered) and e.id == msg_id for e in run.events_of(0))
    # A message to nobody is retried; a run stops at its time and the next one resumes.
    nodes[0].send(mesh.now_ms, 9, b"lost")
    first = mesh.run(until_ms=mesh.now_ms)
    assert first.frames == 1 and nodes[0].poll_timeout() is not None
    rest = mesh.run()
    assert any(isinstance(e, airswarm.SendFailed) for e in rest.events_of(0))
    assert all(n.poll_timeout() is None for n in nodes)
    # The clock set forward: a send then goes out at that time; never backward.
    later = rest.now_ms + 60_000
    mesh.now_ms = later
    nodes[2].send(mesh.now_ms, 1, b"later")
    run = mesh.run()
    assert run.sent[0][:2] == (later, 2) and all(t >= later for t, _, _ in run.events)
    with pytest.raises(airswarm.ConfigError, match="before the mesh's clock"):
        mesh.now_ms = later - 1
    assert mesh.now_ms == run.now_ms
    with pytest.raises(airswarm.ConfigError, match="past the 3"):
        airswarm.Mesh(nodes, links=[(0, 3)])
    with pytest.raises(airswarm.ConfigError, match="twice"):
        airswarm.Mesh([nodes[0], nodes[0]])
    with pytest.raises(TypeError, match="node 1 is of type int, not Node or SecureNode"):
        airswarm.Mesh([nodes[0], 5])  # type: ignore[list-item]


def test_node_errors():
    a = airswarm.Node(1)
    with pytest.raises(airswarm.MeshError, match="itself"):
        a.send(0, 1, b"x")
    with pytest.raises(airswarm.MeshError, match="exceeds"):
        a.send(0, 2, bytes(airswarm.MAX_MESSAGE + 1))
    with pytest.raises(airswarm.DecodeError):
        a.handle_frame(0, b"\x00\x01", -50, 5)
    assert a.stats()["bad_frames"] == 1
    with pytest.raises(airswarm.ConfigError):
        airswarm.Node(airswarm.BROADCAST)
    with pytest.raises(airswarm.ConfigError):
        a.handle_timeout(-1)


def test_a_frame_the_duty_cycle_could_never_allow_is_refused_with_its_reason():
    # SF12 at 7.8 kHz: a 48-byte frame is 36.9 s on air, 1 % of an hour is 36 s.
    slow = airswarm.LoRaConfig(spreading_factor=12, bandwidth_hz=7800)
    n = airswarm.Node(1, lora=slow, duty_cycle=1.0)
    with pytest.raises(airswarm.MeshError, match="could never be sent"):
        n.send(0, airswarm.BROADCAST, bytes(32))
    n.send(0, airswarm.BROADCAST, b"hi")  # a short one fits
    assert n.poll_transmit() is not None
    with pytest.raises(airswarm.ConfigError, match="could never be sent"):
        airswarm.Simulator(nodes=5, sf=12, bw_khz=7.8)
    report = airswarm.Simulator(nodes=5, sf=12, bw_khz=7.8, payload=4, messages=2).run()
    assert report.sends_refused == 0
    assert report.sends_unfinished == 0


def test_a_message_the_duty_cycle_could_never_allow_whole_is_refused():
    # SF7: 255 full frames are 101.6 s on air, 1 % of an hour is 36 s.
    n = airswarm.Node(1, duty_cycle=1.0)
    with pytest.raises(airswarm.MeshError, match="never go out whole"):
        n.send(0, airswarm.BROADCAST, bytes(60_000))
    n.send(0, airswarm.BROADCAST, bytes(14_000))  # two fifths of the budget fits
    with pytest.raises(airswarm.ConfigError, match="never go out whole"):
        airswarm.Simulator(nodes=5, payload=60_000)
    # Four such messages every 10 s need more than an hour: the report says so.
    r = airswarm.Simulator(nodes=3, payload=14_000, messages=4, drain_s=60).run()
    assert r.sends_unfinished >= 1
    with pytest.raises(airswarm.ConfigError, match="drain time"):
        airswarm.Simulator(drain_s=-1)


def _relay_of(frame: bytes, relay_addr: int) -> bytes:
    """What node `relay_addr` sends on after hearing `frame`."""
    r = airswarm.Node(relay_addr, seed=relay_addr)
    r.handle_frame(0, frame, -100, -5)
    t = r.poll_timeout()
    assert t is not None
    r.handle_timeout(t)
    out = r.poll_transmit()
    assert out is not None
    return out


def test_a_bridged_copy_does_not_cancel_a_relay_the_local_air_needs():
    src = airswarm.Node(1, seed=1)
    src.send(0, airswarm.BROADCAST, b"far news")
    frame = src.poll_transmit()
    assert frame is not None
    copy = _relay_of(frame, 3)
    for off_air, cancelled in ((True, 0), (False, 1)):
        b = airswarm.Node(2, seed=2)
        b.handle_frame(0, frame, -100, -5)  # far: b would relay it
        feed = b.handle_frame_off_air if off_air else b.handle_frame
        feed(1, copy, -60, 10)  # a close copy
        assert b.stats()["relays_cancelled"] == cancelled
        t = b.poll_timeout()
        sent = []
        while t is not None and t < 600_000:
            b.handle_timeout(t)
            sent += iter(b.poll_transmit, None)
            t = b.poll_timeout()
        assert bool(sent) == off_air
    with pytest.raises(airswarm.DecodeError):
        airswarm.Node(4).handle_frame_off_air(0, b"\x00\x01", -50, 5)
