//! Every setting C, Python and the CLI pass in is checked here, in the core, with one
//! message per mistake: no wrap, no clamp, no silent zero.

use airswarm_core::mesh::{Address, MAX_FIRST_COUNTER, MAX_MESSAGE, MeshError, Node, NodeConfig};
use airswarm_core::sim::{
    MAX_CHANNEL_PAYLOAD, MAX_DRAIN_MS, MAX_INTERVAL_MS, MAX_MESSAGES, MAX_SESSION_PAYLOAD,
    SimConfig, SimError,
};

fn node(cfg: NodeConfig) -> Result<Node, MeshError> {
    Node::new(cfg)
}

#[test]
fn duty_cycle_is_a_percentage_everywhere() {
    for bad in [0.0, -1.0, 100.5, f64::NAN, f64::INFINITY] {
        let e = node(NodeConfig {
            duty_cycle_percent: bad,
            ..NodeConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, MeshError::DutyCycle(_)), "{e:?}");
        let text = e.to_string();
        assert!(text.contains('%') && text.contains("100"), "{text}");
        assert!(!text.contains("0.01") && !text.contains("(0, 1]"), "{text}");
        let s = SimConfig {
            duty_cycle_percent: bad,
            ..SimConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(s.to_string(), text, "node and simulator say the same");
    }
    // 1 means 1 %, 100 means no limit: both are accepted by node and simulator alike.
    for ok in [1.0, 100.0] {
        node(NodeConfig {
            duty_cycle_percent: ok,
            ..NodeConfig::default()
        })
        .unwrap();
        SimConfig {
            duty_cycle_percent: ok,
            ..SimConfig::default()
        }
        .validate()
        .unwrap();
    }
}

#[test]
fn retries_and_counters_are_refused_not_clamped() {
    for r in 0..=3 {
        let n = node(NodeConfig {
            max_retries: r,
            ..NodeConfig::default()
        })
        .unwrap();
        assert_eq!(n.config().max_retries, r);
    }
    for r in [4, 255] {
        let e = node(NodeConfig {
            max_retries: r,
            ..NodeConfig::default()
        })
        .unwrap_err();
        assert_eq!(e, MeshError::BadRetries(r.into()));
        assert!(e.to_string().contains("0..=3"), "{e}");
    }
    let e = node(NodeConfig {
        first_counter: u64::MAX,
        ..NodeConfig::default()
    })
    .unwrap_err();
    assert_eq!(e, MeshError::BadFirstCounter(u64::MAX.into()));
    let mut n = node(NodeConfig {
        first_counter: MAX_FIRST_COUNTER,
        ..NodeConfig::default()
    })
    .unwrap();
    let id = n
        .send(airswarm_core::time::Instant(0), Address::BROADCAST, b"x")
        .unwrap();
    assert_eq!(id, (MAX_FIRST_COUNTER & 0xFF_FFFF) as u32);
    assert_eq!(
        node(NodeConfig {
            max_queue: 0,
            ..NodeConfig::default()
        })
        .unwrap_err(),
        MeshError::BadQueue(0)
    );
}

#[test]
fn counts_intervals_and_durations_have_limits() {
    let over = |cfg: SimConfig| match cfg.validate() {
        Err(SimError::OverLimit { .. }) => {}
        other => panic!("expected OverLimit, got {other:?}"),
    };
    over(SimConfig {
        messages: 1_000_000_000,
        ..SimConfig::default()
    });
    over(SimConfig {
        messages: usize::MAX,
        ..SimConfig::default()
    });
    over(SimConfig {
        interval_ms: u64::MAX / 1000 + 1,
        ..SimConfig::default()
    });
    over(SimConfig {
        drain_ms: u64::MAX / 1000,
        ..SimConfig::default()
    });
    // The limits themselves are accepted, and the times they give fit (checked arithmetic).
    let edge = SimConfig {
        nodes: 2,
        messages: 3,
        interval_ms: MAX_INTERVAL_MS,
        drain_ms: MAX_DRAIN_MS,
        crypto: false,
        ..SimConfig::default()
    };
    let r = airswarm_core::sim::Simulator::new(edge).unwrap().run();
    assert!(
        r.simulated_s >= MAX_DRAIN_MS as f64 / 1000.0,
        "{}",
        r.simulated_s
    );
    assert!(
        SimConfig {
            messages: MAX_MESSAGES,
            ..SimConfig::default()
        }
        .validate()
        .is_ok()
    );
    let e = SimConfig {
        messages: MAX_MESSAGES + 1,
        ..SimConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("1000000"), "{e}");
}

#[test]
fn payload_limits_account_for_sealing() {
    let check = |crypto: bool, direct_fraction: f64, max: usize| {
        // (No duty cycle: at 1 % a message this long can never go out whole; see below.)
        let cfg = |payload| SimConfig {
            payload,
            crypto,
            direct_fraction,
            duty_cycle_percent: 100.0,
            ..SimConfig::default()
        };
        cfg(max).validate().unwrap();
        let e = cfg(max + 1).validate().unwrap_err();
        assert!(
            matches!(e, SimError::PayloadTooLarge { max: m, .. } if m == max),
            "{e:?}"
        );
        assert!(
            e.to_string().contains(&format!("maximum of {max} bytes")),
            "{e}"
        );
    };
    check(false, 0.5, MAX_MESSAGE);
    check(true, 0.0, MAX_CHANNEL_PAYLOAD);
    check(true, 0.5, MAX_CHANNEL_PAYLOAD);
    check(true, 1.0, MAX_SESSION_PAYLOAD);
    assert_eq!(MAX_SESSION_PAYLOAD, 60_164);
    assert_eq!(MAX_CHANNEL_PAYLOAD, 60_155);
    // Under EU868's 1 %, 36 s an hour: about 88 full frames at SF7.
    let at = |payload| SimConfig {
        payload,
        crypto: false,
        duty_cycle_percent: 1.0,
        ..SimConfig::default()
    };
    at(20_000).validate().unwrap();
    let e = at(MAX_MESSAGE).validate().unwrap_err();
    assert!(
        matches!(
            e,
            SimError::Mesh(MeshError::MessageOverDutyCycle { frames: 255, .. })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("never go out whole"), "{e}");
}

#[test]
fn the_largest_sealed_payloads_really_go_out() {
    // A limit that validates but then sends nothing (0 frames, 0 %) is what this guards.
    for (direct_fraction, payload) in [(0.0, MAX_CHANNEL_PAYLOAD), (1.0, MAX_SESSION_PAYLOAD)] {
        let cfg = SimConfig {
            nodes: 2,
            messages: 1,
            area_m: 100.0,
            payload,
            crypto: true,
            direct_fraction,
            duty_cycle_percent: 100.0,
            ..SimConfig::default()
        };
        let r = airswarm_core::sim::Simulator::new(cfg).unwrap().run();
        assert_eq!(
            r.delivery_ratio, 1.0,
            "{payload} bytes, direct {direct_fraction}"
        );
    }
}
