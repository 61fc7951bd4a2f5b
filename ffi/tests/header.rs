//! The checked-in header must be exactly what cbindgen generates from the sources.
//! Run with `AIRSWARM_BLESS=1` to rewrite `include/airswarm.h` after changing the API.

use std::path::PathBuf;

fn generate() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml parses");
    // The version macros come from Cargo.toml so they cannot drift from the library.
    config.after_includes = Some(format!(
        "\n#define AIRSWARM_VERSION_MAJOR {}\n#define AIRSWARM_VERSION_MINOR {}\n\
         #define AIRSWARM_VERSION_PATCH {}\n#define AIRSWARM_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    ));
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

#[test]
fn header_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/airswarm.h");
    let fresh = generate();
    if std::env::var_os("AIRSWARM_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/airswarm.h");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "ffi/include/airswarm.h is out of date with ffi/src; regenerate it with \
         `AIRSWARM_BLESS=1 cargo test -p airswarm-ffi --test header` and commit it"
    );
}

#[test]
fn header_declares_the_conventions() {
    let h = generate();
    for needle in [
        "#define AIRSWARM_VERSION_MAJOR",
        "#define AIRSWARM_VERSION \"",
        "AIRSWARM_DONE = 1",
        "AIRSWARM_ERR_PANIC",
        "airswarm_result airswarm_result_message(",
        "typedef struct airswarm_node airswarm_node;",
        "void airswarm_node_free(airswarm_node *node);",
    ] {
        assert!(h.contains(needle), "generated header lacks {needle:?}");
    }
}

#[test]
fn header_has_no_test_hooks_and_no_config_layouts() {
    let h = generate();
    // Test-only entry points exist only with the `test-hooks` feature, never in the header.
    assert!(
        !h.contains("airswarm_test_"),
        "the public header declares a test hook"
    );
    // Configs and statistics are opaque: adding a field must not change a C layout.
    for opaque in [
        "typedef struct airswarm_lora_config airswarm_lora_config;",
        "typedef struct airswarm_node_config airswarm_node_config;",
        "typedef struct airswarm_sim_config airswarm_sim_config;",
    ] {
        assert!(h.contains(opaque), "{opaque} is not opaque");
    }
    for gone in ["airswarm_node_stats {", "airswarm_sim_summary"] {
        assert!(!h.contains(gone), "{gone} is a struct by layout again");
    }
    assert!(h.contains("airswarm_result airswarm_last_error_message("));
}
