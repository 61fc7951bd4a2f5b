//! `airswarm sim --file-kib`: one file over the simulated mesh, swarm vs unicast.

use std::process::Command;

fn sim_json(extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_airswarm"))
        .args([
            "sim",
            "--nodes",
            "10",
            "--messages",
            "0",
            "--no-crypto",
            "--json",
        ])
        .args(["--duty-cycle", "10", "--file-kib", "4"])
        .args(extra)
        .output()
        .expect("run airswarm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn file_runs_report_the_documented_fields_in_both_modes() {
    for mode in ["swarm", "unicast"] {
        let v = sim_json(&["--file-mode", mode]);
        for key in [
            "file_nodes_complete",
            "file_nodes_total",
            "file_airtime_s",
            "file_completion_p95_s",
            "file_bytes_identical",
        ] {
            assert!(v.get(key).is_some(), "{mode}: no {key} in {v}");
        }
        assert_eq!(v["file_mode"], mode);
        assert_eq!(v["file_nodes_total"], 9);
        assert_eq!(
            v["file_nodes_complete"], v["file_nodes_reachable"],
            "{mode}"
        );
        assert_eq!(v["file_bytes_identical"], true);
    }
}

#[test]
fn bad_file_parameters_are_one_line_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_airswarm"))
        .args(["sim", "--no-crypto", "--file-kib", "0"])
        .output()
        .expect("run airswarm");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("file"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
