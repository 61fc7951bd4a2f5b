"""The library surfaces take bad input gracefully and say what C and the CLI say:
one field table for reports and statistics, percent duty cycle, the core's limits,
no wrapped counters, every user error an airswarm.AirswarmError."""

import os

import pytest

import airswarm
from airswarm import _native

STUB = os.path.join(os.path.dirname(__file__), "..", "airswarm", "_native.pyi")


def small(**kw):
    args = dict(nodes=6, area_m=500.0, messages=3, seed=2)
    args.update(kw)
    return airswarm.Simulator(**args)


def test_every_report_field_is_an_attribute_and_in_to_dict():
    r = small().run()
    d = r.to_dict()
    assert "pulls" in _native.SIM_REPORT_FIELDS and "pull_answers" in _native.SIM_REPORT_FIELDS
    with open(STUB) as f:
        stub = f.read()
    for name in _native.SIM_REPORT_FIELDS:
        assert hasattr(r, name), name
        assert d[name] == getattr(r, name), name
        # The stub (checked against the module by stubtest) declares each one too.
        assert f"def {name}(self)" in stub, name
        assert getattr(airswarm.SimResult, name).__doc__, name
    assert set(d) == set(_native.SIM_REPORT_FIELDS) | {"per_node", "links", "message_records"}
    assert isinstance(r.pulls, int) and isinstance(r.pull_answers, int)
    assert r.ack_ratio is None  # no direct messages


def test_every_node_counter_is_in_stats():
    n = airswarm.Node(1)
    assert list(n.stats()) == list(_native.NODE_STATS_FIELDS)
    assert {"pulls_sent", "pull_answers", "route_fallbacks"} <= set(n.stats())


def test_duty_cycle_is_a_percentage():
    # 1.0 is 1 % (as in C and the CLI), 100.0 no limit; both are valid for node and sim.
    airswarm.Node(1, duty_cycle=1.0)
    airswarm.Node(1, duty_cycle=100.0)
    small(duty_cycle=100.0)
    for bad in [0.0, -1.0, 100.5, float("nan"), float("inf")]:
        with pytest.raises(airswarm.ConfigError) as node_err:
            airswarm.Node(1, duty_cycle=bad)
        with pytest.raises(airswarm.ConfigError) as sim_err:
            small(duty_cycle=bad)
        assert "% must be more than 0 and at most 100" in str(node_err.value)
        assert str(node_err.value) == str(sim_err.value)
        assert "(0, 1]" not in str(node_err.value)


def test_a_one_percent_duty_cycle_delays_a_node():
    # 1 % of an hour is 36 s of airtime: two hundred 200-byte frames (~0.4 s each at SF7)
    # cannot all go out at once; with no limit they can.
    def queued_after_burst(duty):
        n = airswarm.Node(1, duty_cycle=duty)
        for k in range(120):
            n.send(0, airswarm.BROADCAST, bytes([k]) * 200)
        return airswarm.Mesh([n]).run(until_ms=600_000).frames

    assert queued_after_burst(100.0) > queued_after_burst(1.0)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(messages=10**9), "limit of 1000000"),
        (dict(messages=2**64), "out of range"),
        (dict(messages=-1), "messages -1 is out of range"),
        (dict(nodes=-3), "nodes -3 is out of range"),
        (dict(interval_s=1e9), "limit of 86400000 ms"),
        (dict(interval_s=float("inf")), "non-negative number of seconds"),
        (dict(interval_s=-1.0), "non-negative number of seconds"),
        (dict(seed=-1), "seed -1 is out of range"),
        (dict(seed=2**64), "seed 18446744073709551616 is out of range"),
        (dict(sf=256), "spreading factor 256 is out of range 5..=12"),
        (dict(sf=13), "spreading factor 13 is out of range 5..=12"),
        (dict(hop_limit=256), "hop limit 256 is out of range 1..=15"),
        (dict(hop_limit=0), "hop limit 0 is out of range 1..=15"),
        (dict(payload=2**100), "payload"),
        (dict(direct_percent=150.0), "direct share 150 % must be between 0 and 100"),
        (dict(sf=9, lora=airswarm.LoRaConfig()), "not both"),
        (dict(cr=6, lora=airswarm.LoRaConfig()), "not both"),
    ],
)
def test_simulator_settings_are_checked(kwargs, needle):
    with pytest.raises(airswarm.ConfigError, match=None) as e:
        small(**kwargs)
    assert needle in str(e.value), str(e.value)
    assert isinstance(e.value, ValueError)


def test_payload_limits_state_the_real_maximum_per_mode():
    # (No duty-cycle limit: at 1 % messages this long never go out whole, see test_mesh.)
    def small_nolimit(**kw):
        return small(duty_cycle=100.0, **kw)

    small_nolimit(payload=60_180)
    with pytest.raises(airswarm.ConfigError, match="maximum of 60180 bytes for plain"):
        small_nolimit(payload=60_181)
    small_nolimit(payload=60_155, crypto=True)
    with pytest.raises(airswarm.ConfigError, match="maximum of 60155 bytes for channel-sealed"):
        small_nolimit(payload=60_156, crypto=True)
    small_nolimit(payload=60_164, crypto=True, direct_percent=100.0)
    with pytest.raises(airswarm.ConfigError, match="maximum of 60164 bytes for session-sealed"):
        small_nolimit(payload=60_165, crypto=True, direct_percent=100.0)


def test_the_limits_themselves_run_with_right_times():
    r = airswarm.Simulator(nodes=2, messages=1, interval_s=86_400.0, area_m=100.0).run()
    assert r.simulated_s >= 300.0  # the default drain after the message
    assert r.simulated_s < 86_400.0 * 40


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(first_counter=2**64 - 1), "first counter 18446744073709551615 is out of range"),
        (dict(first_counter=-1), "first counter -1 is out of range"),
        (dict(max_retries=255), "max retries 255 is out of range 0..=3"),
        (dict(max_retries=4), "max retries 4 is out of range 0..=3"),
        (dict(hop_limit=256), "hop limit 256 is out of range 1..=15"),
        (dict(seed=-1), "seed -1 is out of range"),
    ],
)
def test_node_counters_and_settings_are_refused_not_wrapped(kwargs, needle):
    with pytest.raises(airswarm.ConfigError) as e:
        airswarm.Node(1, **kwargs)
    assert needle in str(e.value), str(e.value)


def test_node_honours_three_retries_and_high_counters():
    airswarm.Node(1, max_retries=3)
    n = airswarm.Node(1, first_counter=2**64 - 2**32 - 2049)
    msg_id = n.send(0, airswarm.BROADCAST, b"x")
    assert msg_id == (2**64 - 2**32 - 2049) & 0xFFFFFF


def test_radio_settings_out_of_range_are_config_errors():
    for kwargs in [dict(spreading_factor=256), dict(sync_word=256), dict(tx_power_dbm=2**40),
                   dict(frequency_hz=-1), dict(preamble_len=2**16)]:
        with pytest.raises(airswarm.ConfigError):
            airswarm.LoRaConfig(**kwargs)
    with pytest.raises(airswarm.ConfigError, match="spreading factor 256"):
        airswarm.airtime(payload=10, sf=256)
    with pytest.raises(airswarm.ConfigError):
        airswarm.airtime(payload=-1)
    with pytest.raises(airswarm.ConfigError):
        airswarm.LoRaConfig().time_on_air_ms(-5)


def test_node_call_arguments_out_of_range_are_config_errors():
    n = airswarm.Node(1)
    for call in [lambda: n.handle_timeout(-1), lambda: n.handle_timeout(2**64),
                 lambda: n.send(-1, 2, b"x"), lambda: n.send(0, 2**32, b"x"),
                 lambda: n.handle_frame(-1, b"x", 0, 0)]:
        with pytest.raises(airswarm.ConfigError):
            call()


def test_error_classes_also_derive_from_the_builtins():
    assert issubclass(airswarm.ConfigError, airswarm.AirswarmError)
    assert issubclass(airswarm.ConfigError, ValueError)
    assert issubclass(airswarm.DecodeError, ValueError)
    assert issubclass(airswarm.TorrentError, ValueError)
    assert issubclass(airswarm.TorrentError, airswarm.DecodeError)
    for cls in [airswarm.CryptoError, airswarm.MeshError]:
        assert issubclass(cls, airswarm.AirswarmError)
    with pytest.raises(ValueError):
        airswarm.Node(airswarm.BROADCAST)
    e = airswarm.DecodeError("x")
    assert e.offset is None


def test_ack_ratio_counts_acks_of_messages_that_waited_for_a_handshake():
    r = airswarm.Simulator(nodes=4, area_m=300.0, messages=4, direct_percent=100.0,
                           crypto=True, seed=3).run()
    assert r.delivery_ratio == 1.0
    assert r.ack_ratio == 1.0
