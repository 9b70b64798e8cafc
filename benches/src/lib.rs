//! Shared reporting for the lattice benchmarks.
//!
//! Every benchmark measures the project's code next to a baseline doing the same job the plain
//! way (untyped `serde_json`, a raw async-nats request, …) in the same run, with criterion.
//! After criterion has run, [`write_report`] reads its estimates and writes one
//! machine-readable JSON report per bench target to `benches/report/<bench>.json`.
//!
//! Some measurements are not criterion benchmarks but distributions of a duration the code
//! reports itself (e.g. how long an upgrade paused invocations). [`Distribution`] summarises
//! those, and [`write_report_with`] adds them to the same report under keys of their own.

use serde::{Deserialize, Serialize};
use std::{
    env, fs, io,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// One measured pair: the project's code and its baseline (criterion benchmark ids).
#[derive(Clone, Copy, Debug)]
pub struct Comparison {
    /// What the pair measures, e.g. `decode ApplyComponentSpecRequest`.
    pub what: &'static str,
    /// The criterion id of the project's code, e.g. `decode_apply/lattice`.
    pub subject: &'static str,
    /// The criterion id of the baseline, e.g. `decode_apply/serde_json_value`.
    pub baseline: &'static str,
}

/// A line of the report.
#[derive(Debug, Serialize)]
pub struct ReportEntry {
    /// What the pair measures.
    pub what: &'static str,
    /// The project's code.
    pub subject: Timing,
    /// The baseline.
    pub baseline: Timing,
    /// `subject.median_ns / baseline.median_ns`: below 1 is faster than the baseline.
    pub ratio: f64,
}

/// Criterion's estimates for one benchmark, in nanoseconds per iteration.
#[derive(Debug, Serialize)]
pub struct Timing {
    /// The criterion benchmark id.
    pub id: &'static str,
    /// Median time per iteration.
    pub median_ns: f64,
    /// Mean time per iteration.
    pub mean_ns: f64,
    /// Standard deviation of the time per iteration.
    pub std_dev_ns: f64,
}

#[derive(Deserialize)]
struct Estimates {
    mean: Estimate,
    median: Estimate,
    std_dev: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// Where criterion writes its results: the same lookup criterion itself makes.
fn criterion_dir() -> PathBuf {
    if let Some(home) = env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    #[derive(Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    env::var_os("CARGO")
        .and_then(|cargo| {
            Command::new(cargo)
                .args(["metadata", "--format-version", "1", "--no-deps"])
                .output()
                .ok()
        })
        .and_then(|output| serde_json::from_slice::<Metadata>(&output.stdout).ok())
        .map_or_else(
            || PathBuf::from("target/criterion"),
            |m| m.target_directory.join("criterion"),
        )
}

fn timing(dir: &Path, id: &'static str) -> io::Result<Timing> {
    let path = dir.join(id).join("new/estimates.json");
    let text = fs::read_to_string(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{}: {e} (was the benchmark filtered out?)", path.display()),
        )
    })?;
    let estimates: Estimates = serde_json::from_str(&text).map_err(io::Error::other)?;
    Ok(Timing {
        id,
        median_ns: estimates.median.point_estimate,
        mean_ns: estimates.mean.point_estimate,
        std_dev_ns: estimates.std_dev.point_estimate,
    })
}

/// A distribution of directly measured durations, in microseconds (nearest-rank
/// percentiles).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Distribution {
    /// How many samples.
    pub samples: usize,
    /// The smallest sample.
    pub min_us: f64,
    /// The median.
    pub p50_us: f64,
    /// The 90th percentile.
    pub p90_us: f64,
    /// The 99th percentile.
    pub p99_us: f64,
    /// The largest sample.
    pub max_us: f64,
    /// The arithmetic mean.
    pub mean_us: f64,
}

impl Distribution {
    /// Summarises `samples`; `None` when there are none.
    #[must_use]
    pub fn of(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let n = us.len();
        // Nearest rank: the smallest sample with at least p of the samples at or below it.
        let rank = |p: f64| us[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(Self {
            samples: n,
            min_us: us[0],
            p50_us: rank(0.50),
            p90_us: rank(0.90),
            p99_us: rank(0.99),
            max_us: us[n - 1],
            mean_us: us.iter().sum::<f64>() / n as f64,
        })
    }
}

/// Reads criterion's estimates for every pair, prints a table and writes
/// `benches/report/<bench>.json`. Pairs whose benchmarks did not run (filtered out on the
/// command line) are skipped.
///
/// # Errors
///
/// When the report cannot be written.
pub fn write_report(bench: &str, comparisons: &[Comparison]) -> io::Result<PathBuf> {
    write_report_with(bench, comparisons, serde_json::Map::new())
}

/// Keys of the report that [`write_report_with`] owns.
const RESERVED_KEYS: [&str; 4] = ["bench", "unit", "machine", "entries"];

/// As [`write_report`], and adds `extra`'s keys to the top level of the report, for
/// measurements criterion does not make (e.g. a [`Distribution`] of durations the code reports
/// itself). The bench prints those itself.
///
/// # Errors
///
/// When the report cannot be written, or (`InvalidInput`) when `extra` uses one of the keys
/// the report already has: `bench`, `unit`, `machine`, `entries`.
pub fn write_report_with(
    bench: &str,
    comparisons: &[Comparison],
    extra: serde_json::Map<String, serde_json::Value>,
) -> io::Result<PathBuf> {
    if let Some(key) = extra.keys().find(|k| RESERVED_KEYS.contains(&k.as_str())) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("extra report key `{key}` is reserved"),
        ));
    }
    let dir = criterion_dir();
    let entries: Vec<ReportEntry> = comparisons
        .iter()
        .filter_map(|c| {
            let subject = timing(&dir, c.subject).ok()?;
            let baseline = timing(&dir, c.baseline).ok()?;
            let ratio = subject.median_ns / baseline.median_ns;
            Some(ReportEntry {
                what: c.what,
                subject,
                baseline,
                ratio,
            })
        })
        .collect();
    println!("\n{bench}: project code vs baseline (median per iteration)");
    for e in &entries {
        println!(
            "  {:<44} {:>12.0} ns  vs {:>12.0} ns  ({:.2}x)  [{} vs {}]",
            e.what, e.subject.median_ns, e.baseline.median_ns, e.ratio, e.subject.id, e.baseline.id
        );
    }
    // `cargo bench` sets the variable when it runs a bench; the compile-time value is the
    // fallback (it can name another checkout when target directories are shared).
    let report_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("report");
    fs::create_dir_all(&report_dir)?;
    let path = report_dir.join(format!("{bench}.json"));
    let mut report = serde_json::json!({
        "bench": bench,
        "unit": "ns/iteration",
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) },
        "entries": entries,
    });
    if let Some(object) = report.as_object_mut() {
        object.extend(extra);
    }
    fs::write(
        &path,
        serde_json::to_vec_pretty(&report).map_err(io::Error::other)?,
    )?;
    println!("report: {}", path.display());
    Ok(path)
}
