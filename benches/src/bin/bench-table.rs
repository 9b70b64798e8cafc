//! Writes the README's performance table from the committed reports (`benches/report/*.json`)
//! between `<!-- bench-table:start -->` and `<!-- bench-table:end -->` in `README.md`.
//! With `--check`, writes nothing and exits 1 when the README's table is not what the reports
//! generate.

use lattice_benches::{report_dir, table};
use std::{fs, path::Path, process::ExitCode};

fn main() -> ExitCode {
    let check = std::env::args().skip(1).any(|a| a == "--check");
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let result = fs::read_to_string(&readme_path)
        .map_err(|e| format!("cannot read {}: {e}", readme_path.display()))
        .and_then(|readme| {
            let table = table::generate(&report_dir()).map_err(|e| e.to_string())?;
            let updated = table::splice(&readme, &table).map_err(|e| e.to_string())?;
            Ok((readme, updated))
        });
    match result {
        Err(error) => {
            eprintln!("bench-table: {error}");
            ExitCode::FAILURE
        }
        Ok((readme, updated)) if check => {
            if readme == updated {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "bench-table: README.md's table is not what benches/report/*.json generate; run `cargo run -p lattice-benches --bin bench-table`"
                );
                ExitCode::FAILURE
            }
        }
        Ok((readme, updated)) => {
            if readme != updated {
                if let Err(error) = fs::write(&readme_path, updated) {
                    eprintln!(
                        "bench-table: cannot write {}: {error}",
                        readme_path.display()
                    );
                    return ExitCode::FAILURE;
                }
                println!("bench-table: README.md updated");
            } else {
                println!("bench-table: README.md already up to date");
            }
            ExitCode::SUCCESS
        }
    }
}
