//! Replays every committed fuzz seed (`fuzz/seeds/<target>/*`) and every minimised
//! crash kept as a regression (`fuzz/artifacts-regressions/<target>/*`) through the fuzz
//! body of its target, under plain `cargo test` (no cargo-fuzz, no nightly needed).

// Test code: a panic is a failed assertion.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// A fuzz body.
type Body = fn(&[u8]);

/// Targets whose body is in `actionhero_ws::fuzz`.
const TARGETS: &[(&str, Body)] = &[
    ("wire_server", actionhero_ws::fuzz::wire_server),
    ("wire_client", actionhero_ws::fuzz::wire_client),
    ("handshake", actionhero_ws::fuzz::handshake),
    ("server_ops", actionhero_ws::fuzz::server_ops),
    ("client_ops", actionhero_ws::fuzz::client_ops),
    ("cluster_channel", actionhero_ws::fuzz::cluster_channel),
];

/// Targets with seeds whose body is not in this crate yet (none).
const PENDING: &[&str] = &[];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files under `fuzz/<kind>/<target>/`, sorted; none when the folder is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_replays_without_failure() {
    for (target, body) in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(seeds.len() >= 12, "{target}: only {} seeds", seeds.len());
        for path in seeds.iter().chain(&inputs("artifacts-regressions", target)) {
            let data = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        }
    }
}

#[test]
fn every_seed_folder_belongs_to_a_target() {
    for kind in ["seeds", "artifacts-regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name) || PENDING.contains(&name.as_str()),
                "fuzz/{kind}/{name} has no target"
            );
            assert!(
                fuzz_dir()
                    .join("fuzz_targets")
                    .join(format!("{name}.rs"))
                    .is_file(),
                "fuzz/{kind}/{name}: no fuzz_targets/{name}.rs"
            );
        }
    }
}
