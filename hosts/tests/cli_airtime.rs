//! `airswarm airtime` as a user runs it.

use std::process::Command;

fn airswarm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airswarm"))
        .args(args)
        .output()
        .expect("run airswarm")
}

#[test]
fn prints_the_check_value() {
    let out = airswarm(&["airtime", "--payload", "255"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("399.616 ms"), "{text}");
    assert!(text.contains("90 such frames per hour at 1 %"), "{text}");
}

#[test]
fn json_output() {
    let out = airswarm(&["airtime", "--sf", "9", "--payload", "12", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["airtime_ms"], 144.384);
    assert_eq!(v["airtime_us"], 144_384);
    let v: serde_json::Value = serde_json::from_slice(
        &airswarm(&["airtime", "--sf", "12", "--payload", "255", "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(v["airtime_ms"], 9019.392);
    assert_eq!(v["ldro"], true);
}

#[test]
fn bad_parameters_are_one_line_errors() {
    for args in [
        &["airtime", "--sf", "13", "--payload", "10"][..],
        &["airtime", "--payload", "300"],
        &["airtime", "--payload", "10", "--cr", "9"],
        &["airtime", "--payload", "10", "--bw-khz", "100"],
        &["airtime", "--payload", "10", "--ldro", "maybe"],
    ] {
        let out = airswarm(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(!err.contains("panicked"), "{err}");
        if err.starts_with("airswarm: error:") {
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    let err =
        String::from_utf8(airswarm(&["airtime", "--sf", "13", "--payload", "10"]).stderr).unwrap();
    assert_eq!(
        err.trim(),
        "airswarm: error: spreading factor 13 is out of range 5..=12"
    );
    let err = String::from_utf8(airswarm(&["airtime", "--payload", "300"]).stderr).unwrap();
    assert!(
        err.contains("300-byte payload exceeds the 255-byte"),
        "{err}"
    );
}
