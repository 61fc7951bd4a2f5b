"""The SX1276 driver driven through its Python callables against the register-level model,
the KISS codec and the RNode host state machine."""

import pytest

import airswarm


def radio_on(model, chip, **kw):
    """A driver whose callables are the model's pins and bus (a Pi would use spidev/gpiod)."""
    return airswarm.Sx1276(
        lambda data: model.spi(chip, data),
        lambda level: model.reset(chip, level),
        lambda: model.dio0(chip),
        model.delay_ns,
        **kw,
    )


def transmit(model, radio, payload):
    radio.transmit_start(model.now_us // 1000, payload)
    for _ in range(5000):
        if radio.transmit_check(model.now_us // 1000):
            return
        model.delay_ns(1_000_000)
    raise AssertionError("transmission never finished")


def test_two_modelled_chips_exchange_packets_through_the_callbacks():
    model = airswarm.Sx1276Model(seed=3)
    a_chip, b_chip = model.add_chip(0, 0), model.add_chip(30, 0)
    a, b = radio_on(model, a_chip), radio_on(model, b_chip)
    a.init()
    b.init(airswarm.LoRaConfig())
    # REFERENCE.md register values for the defaults, read through the SPI callable.
    assert model.spi(a_chip, bytes([0x1D, 0, 0]))[1:] == bytes([0x72, 0x74])
    assert model.spi(a_chip, bytes([0x06, 0, 0, 0]))[1:] == bytes([0xD9, 0x06, 0x66])
    assert model.spi(a_chip, bytes([0x42, 0]))[1] == 0x12
    b.receive_start()
    for size in (1, 100, 255):
        payload = bytes((i * 7 + size) % 256 for i in range(size))
        before = a.spi_transactions
        transmit(model, a, payload)
        assert a.spi_transactions - before <= 6
        rx = b.receive_check()
        assert rx is not None and rx.status == "packet"
        assert rx.data == payload
        assert rx.rssi_dbm < 0 and rx.snr_db > 0
        assert b.receive_check() is None
    with pytest.raises(airswarm.ConfigError, match="255"):
        a.transmit_start(0, bytes(256))


def test_crc_error_timeout_and_a_dead_bus():
    model = airswarm.Sx1276Model()
    chip = model.add_chip()
    r = radio_on(model, chip)
    r.init()
    r.receive_start()
    model.inject(chip, b"bad", -95, -2, crc_ok=False)
    rx = r.receive_check()
    assert rx.status == "crc_error" and rx.data == b""
    r.receive_start(single=True)
    model.delay_ns(200_000_000)
    assert r.receive_check().status == "timeout"
    # A bus that reads zeros: the error names the version read.
    dead = airswarm.Sx1276(lambda d: bytes(len(d)), lambda level: None, lambda: False, lambda ns: None)
    with pytest.raises(airswarm.RadioError, match="0x00"):
        dead.init()
    # A callable that raises: its exception comes through unchanged.
    def broken(data):
        raise OSError("spidev gone")

    with pytest.raises(OSError, match="spidev gone"):
        airswarm.Sx1276(broken, lambda level: None, lambda: False, lambda ns: None).init()
    short = airswarm.Sx1276(lambda d: b"", lambda level: None, lambda: False, lambda ns: None)
    with pytest.raises(airswarm.RadioError, match="returned 0 bytes"):
        short.init()
    assert issubclass(airswarm.RadioError, airswarm.AirswarmError)


def test_rnode_header_and_channel_activity():
    model = airswarm.Sx1276Model()
    a_chip, b_chip = model.add_chip(0, 0), model.add_chip(10, 0)
    a = radio_on(model, a_chip, rnode_header=True, seed=5)
    b = radio_on(model, b_chip, rnode_header=True, seed=6)
    a.init()
    b.init()
    b.cad_start()
    while (free := b.cad_check()) is None:
        model.delay_ns(500_000)
    assert free is False
    b.receive_start()
    transmit(model, a, b"to an RNode")
    rx = b.receive_check()
    assert rx.data == b"to an RNode" and rx.rnode_header & 0x0F == 0


def test_kiss_round_trip_and_resync():
    frame = airswarm.kiss_encode(0x00, b"\xc0\xdb\x01")
    assert frame == b"\xc0\x00\xdb\xdc\xdb\xdd\x01\xc0"
    d = airswarm.KissDecoder(max_len=8)
    assert d.feed(b"noise" + frame[:3]) == []
    assert d.feed(frame[3:]) == [(0, b"\xc0\xdb\x01")]
    assert d.garbage_bytes == 5
    assert d.feed(airswarm.kiss_encode(0, bytes(20)) + frame) == [(0, b"\xc0\xdb\x01")]
    assert d.dropped_frames == 1


class FakeRnode:
    """Just enough RNode firmware (1.82, ESP32) to bring a host up, in Python."""

    def __init__(self):
        self.decoder = airswarm.KissDecoder()
        self.out = b""

    def write(self, data):
        for cmd, body in self.decoder.feed(data):
            if cmd == 0x08:
                self.out += airswarm.kiss_encode(0x08, b"\x46")
            elif cmd == 0x50:
                self.out += airswarm.kiss_encode(0x50, b"\x01\x52")
            elif cmd == 0x48:
                self.out += airswarm.kiss_encode(0x48, b"\x80")
            elif cmd == 0x49:
                self.out += airswarm.kiss_encode(0x49, b"\x81")
            elif cmd in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06):
                self.out += airswarm.kiss_encode(cmd, body)
            elif cmd == 0x00:
                self.out += airswarm.kiss_encode(0x0F, b"\x01")


def test_rnode_host_brings_a_device_up_and_reports_failures():
    host = airswarm.RnodeHost(0)
    dev = FakeRnode()
    assert host.phase == "settling" and host.poll_timeout() == 2000
    now = 0
    while host.phase not in ("online", "failed") and now < 10_000:
        while (b := host.poll_transmit()) is not None:
            dev.write(b)
        if dev.out:
            host.handle_bytes(now, dev.out)
            dev.out = b""
            continue
        t = host.poll_timeout()
        now = max(now, t if t is not None else now)
        host.handle_timeout(now)
    assert host.phase == "online"
    kinds = []
    while (ev := host.poll_event()) is not None:
        kinds.append(ev.kind)
        if ev.kind == "detected":
            assert ev.firmware == (1, 82) and ev.platform == 0x80
    assert kinds == ["detected", "online"]
    host.send(now, b"hi")
    assert host.poll_transmit() == b"\xc0\x00hi\xc0"
    host.handle_bytes(now, b"\xc0\x23\x50\xc0\xc0\x24\x28\xc0\xc0\x00yo\xc0")
    ev = host.poll_event()
    assert (ev.kind, ev.data, ev.rssi_dbm, ev.snr_db) == ("received", b"yo", 80 - 157, 10.0)
    host.handle_closed(now)
    ev = host.poll_event()
    assert ev.kind == "failed" and "closed" in ev.message
    with pytest.raises(airswarm.RadioError, match="not online"):
        host.send(now, b"x")

    silent = airswarm.RnodeHost(0, settle_ms=10)
    silent.handle_timeout(10)
    silent.handle_bytes(20, b"garbage")
    silent.handle_timeout(210)
    ev = silent.poll_event()
    assert ev.kind == "failed" and "no RNode answered" in ev.message
