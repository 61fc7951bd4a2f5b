"""Random inputs to every entry point: only documented exceptions, never a crash."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import airswarm
from airswarm import bencode, torrent

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXPECTED = (airswarm.AirswarmError, TypeError, ValueError, OverflowError)


@FAST
@given(st.binary(max_size=300))
def test_bencode_decode_random(data):
    try:
        v = bencode.decode(data)
    except airswarm.DecodeError as e:
        assert e.offset is not None and 0 <= e.offset <= len(data)
    else:
        assert bencode.encode(v) == data  # strict decoding accepts only canonical input


values = st.recursive(
    st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@FAST
@given(values)
def test_bencode_round_trip(v):
    assert bencode.decode(bencode.encode(v)) == v


@FAST
@given(st.binary(max_size=400))
def test_metainfo_random(data):
    try:
        torrent.Metainfo.from_bytes(data)
    except airswarm.DecodeError:
        pass


@FAST
@given(st.binary(max_size=260), st.integers(-(2**70), 2**70), st.floats(), st.floats())
def test_node_random_frames(frame, now, rssi, snr):
    node = airswarm.Node(5)
    try:
        node.handle_frame(now, frame, rssi, snr)
    except EXPECTED:
        pass
    node.poll_event()
    node.poll_transmit()
    node.poll_timeout()


small = st.integers(-(2**40), 2**40)


@FAST
@given(small, st.floats(allow_nan=True), small, small, small, st.booleans(), st.booleans(), st.text(max_size=5))
def test_airtime_and_lora_random(sf, bw, cr, payload, preamble, ih, crc, ldro):
    try:
        airswarm.airtime(sf=sf, bw_khz=bw, cr=cr, payload=payload, preamble=preamble, implicit_header=ih, crc=crc, ldro=ldro)
    except EXPECTED:
        pass
    try:
        cfg = airswarm.LoRaConfig(spreading_factor=sf, coding_rate=cr, preamble_len=preamble, ldro=ldro)
        cfg.time_on_air_ms(payload)
    except EXPECTED:
        pass


@settings(max_examples=40, deadline=None)
@given(
    st.integers(-5, 30), st.one_of(st.none(), st.floats()), st.integers(-1, 6), st.integers(-1, 400),
    st.sampled_from(["blind", "managed", "airswarm", "x"]), st.floats(), st.floats(), st.integers(-1, 20),
)
def test_simulator_random(nodes, area, messages, payload, strategy, duty, interval, hop):
    try:
        sim = airswarm.Simulator(nodes=nodes, area_m=area, messages=messages, payload=payload, strategy=strategy,
                                 duty_cycle=duty, interval_s=interval, hop_limit=hop)
    except EXPECTED:
        return
    sim.run()


@FAST
@given(st.binary(max_size=80), st.integers(0, 2**32 - 1))
def test_channel_open_random(data, sender):
    ch = airswarm.Channel(bytes(32))
    try:
        ch.open(sender, data)
    except airswarm.CryptoError:
        pass


def _outcome(fn, data):
    try:
        return ("ok", fn(data))
    except airswarm.DecodeError as e:
        return ("err", e.offset, str(e))


@FAST
@given(values, st.data())
def test_fast_decoder_matches_the_core_decoder(v, data):
    """`bencode.decode` takes a one-pass fast path; it must agree with the core decoder
    (`_bencode_decode_reference`) on valid input and on every corruption of it."""
    from airswarm import _native

    encoded = bencode.encode(v)
    assert bencode.decode(encoded) == _native.bencode_decode_reference(encoded) == v
    mutated = bytearray(encoded)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        at = data.draw(st.integers(min_value=0, max_value=max(len(mutated) - 1, 0)))
        byte = data.draw(st.sampled_from(list(b"0123456789-:ield") + [0, 255]))
        if op == "flip" and mutated:
            mutated[at] = byte
        elif op == "insert":
            mutated.insert(at, byte)
        elif mutated:
            del mutated[at]
    m = bytes(mutated)
    assert _outcome(bencode.decode, m) == _outcome(_native.bencode_decode_reference, m)


@FAST
@given(st.binary(max_size=200))
def test_fast_decoder_matches_the_core_decoder_on_random_bytes(data):
    from airswarm import _native

    assert _outcome(bencode.decode, data) == _outcome(_native.bencode_decode_reference, data)
