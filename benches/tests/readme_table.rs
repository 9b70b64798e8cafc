//! The README's performance table is what the committed reports generate: a report
//! regenerated without the table (or a hand edit of the table) fails here. Cheap: it reads
//! files, it measures nothing.

use lattice_benches::{report_dir, table};
use std::path::Path;

#[test]
fn the_readme_table_is_generated_from_the_committed_reports() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let generated = table::generate(&report_dir()).unwrap_or_else(|e| panic!("{e}"));
    let expected = table::splice(&readme, &generated).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        readme == expected,
        "README.md's bench table is not what benches/report/*.json generate; run \
         `cargo run -p lattice-benches --bin bench-table` (scripts/bench does)"
    );
}

#[test]
fn every_committed_report_names_where_and_when_it_was_measured() {
    for name in table::REPORTS {
        let path = report_dir().join(format!("{name}.json"));
        if !path.exists() {
            // The table says so (`the_readme_table_is_generated_from_the_committed_reports`).
            continue;
        }
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}")))
                .expect("JSON");
        let run: lattice_benches::RunInfo = serde_json::from_value(report["run"].clone())
            .unwrap_or_else(|e| panic!("{name}: `run` metadata: {e}"));
        assert_eq!(run.commit.len(), 40, "{name}: {run:?}");
        for (what, value) in [
            ("date", &run.date),
            ("cpu_model", &run.cpu_model),
            ("nats_server", &run.nats_server),
            ("rustc", &run.rustc),
        ] {
            assert!(
                !value.is_empty() && value != "unknown",
                "{name}: no {what}: {run:?}"
            );
        }
        assert!(run.cores >= 1, "{name}");
    }
}
