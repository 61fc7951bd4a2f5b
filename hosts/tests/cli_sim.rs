//! The `airswarm sim` command as a user runs it.

use std::process::Command;

fn airswarm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airswarm"))
        .args(args)
        .output()
        .expect("run airswarm")
}

#[test]
fn default_run_prints_a_summary() {
    let out = airswarm(&["sim", "--messages", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("40 nodes") && text.contains("delivery"),
        "{text}"
    );
}

#[test]
fn json_has_the_documented_keys() {
    let out = airswarm(&["sim", "--nodes", "12", "--messages", "4", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "strategy",
        "nodes",
        "messages",
        "seed",
        "delivery_ratio",
        "transmissions",
        "transmissions_per_message",
        "airtime_s",
        "collisions",
        "latency_p50_ms",
        "latency_p95_ms",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["nodes"], 12);
    assert_eq!(v["strategy"], "airswarm");
    let ratio = v["delivery_ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ratio));
}

#[test]
fn compare_gives_one_object_per_strategy_on_the_same_scenario() {
    let out = airswarm(&[
        "sim",
        "--nodes",
        "15",
        "--messages",
        "4",
        "--json",
        "--compare",
        "--seed",
        "7",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = v.as_array().unwrap();
    let names: Vec<&str> = arr
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blind", "managed", "managed", "airswarm"]);
    let variants: Vec<&str> = arr.iter().map(|r| r["variant"].as_str().unwrap()).collect();
    assert_eq!(
        variants,
        ["blind", "managed", "managed+routers", "airswarm"]
    );
    // One router in ten nodes by default: 15 nodes, one router.
    assert_eq!(arr[2]["routers"].as_array().unwrap().len(), 1);
    assert_eq!(arr[2]["router_role"], "router");
    assert_eq!(arr[1]["routers"].as_array().unwrap().len(), 0);
    for r in arr {
        assert_eq!(r["seed"], 7);
        assert_eq!(
            r["intended_pairs"], arr[0]["intended_pairs"],
            "same traffic for every strategy"
        );
        assert_eq!(
            r["mean_neighbours"], arr[0]["mean_neighbours"],
            "same topology for every strategy"
        );
    }
}

#[test]
fn routers_are_given_to_managed_and_late_routers_on_request() {
    let out = airswarm(&[
        "sim",
        "--nodes",
        "12",
        "--messages",
        "3",
        "--no-crypto",
        "--strategy",
        "managed",
        "--routers",
        "3",
        "--router-late",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["variant"], "managed+router_late");
    assert_eq!(v["router_role"], "router_late");
    assert_eq!(v["routers"].as_array().unwrap().len(), 3);
    for (args, says) in [
        (&["sim", "--routers", "2"][..], "--strategy managed"),
        (
            &["sim", "--strategy", "managed", "--router-late"][..],
            "--routers N",
        ),
        (
            &[
                "sim",
                "--strategy",
                "managed",
                "--nodes",
                "5",
                "--routers",
                "6",
            ][..],
            "at most --nodes",
        ),
    ] {
        let out = airswarm(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn longfast_runs_meshtastics_preset_on_a_smaller_default_area() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "sim",
            "--nodes",
            "12",
            "--messages",
            "2",
            "--no-crypto",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = airswarm(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let plain = run(&[]);
    let longfast = run(&["--longfast"]);
    let (a, b) = (
        plain["area_m"].as_f64().unwrap(),
        longfast["area_m"].as_f64().unwrap(),
    );
    assert!(b < a, "LongFast area {b} m not below the default {a} m");
    assert!(longfast["mean_neighbours"].as_f64().unwrap() > 1.0);
    let out = airswarm(&["sim", "--longfast", "--sf", "9"]);
    assert!(!out.status.success());
}

#[test]
fn churn_switches_nodes_off_for_every_strategy_and_is_reported() {
    let run = |churn: &str| {
        let out = airswarm(&[
            "sim",
            "--nodes",
            "30",
            "--messages",
            "20",
            "--no-crypto",
            "--compare",
            "--json",
            "--seed",
            "7",
            "--churn",
            churn,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (steady, churned) = (run("0"), run("0.5"));
    let rows = churned.as_array().unwrap();
    assert_eq!(rows.len(), steady.as_array().unwrap().len());
    let mut lower = 0;
    for (a, b) in steady.as_array().unwrap().iter().zip(rows) {
        assert_eq!(b["churn"], 0.5, "{b}");
        assert_eq!(a["churn"], 0.0);
        let (da, db) = (
            a["delivery_ratio"].as_f64().unwrap(),
            b["delivery_ratio"].as_f64().unwrap(),
        );
        if db < da {
            lower += 1;
        }
    }
    // Half the nodes off for a while: deliveries are lost in most rows.
    assert!(lower * 2 > rows.len(), "{steady} vs {churned}");
}

#[test]
fn plot_writes_an_svg() {
    let dir = std::env::temp_dir().join(format!("airswarm-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mesh.svg");
    let out = airswarm(&[
        "sim",
        "--nodes",
        "10",
        "--messages",
        "2",
        "--compare",
        "--plot",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("circle"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_parameters_are_one_line_errors() {
    for args in [
        &["sim", "--nodes", "0"][..],
        &["sim", "--nodes", "1"],
        &["sim", "--sf", "13"],
        &["sim", "--cr", "9"],
        &["sim", "--bw-khz", "100"],
        &["sim", "--duty-cycle", "0"],
        &["sim", "--hop-limit", "16"],
        &["sim", "--payload", "70000"],
        &["sim", "--strategy", "gossip"],
        &["sim", "--area-m", "-5"],
        &["sim", "--churn", "1.5"],
        &["sim", "--churn", "-0.1"],
    ] {
        let out = airswarm(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("airswarm: error:") || first.starts_with("error:"),
            "{args:?}: {err}"
        );
        if first.starts_with("airswarm: error:") {
            assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        }
    }
}
