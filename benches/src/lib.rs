//! Shared reporting for the lattice benchmarks.
//!
//! Every benchmark measures the project's code next to a baseline doing the same job the plain
//! way (untyped `serde_json`, a raw async-nats request, the official wasmCloud 1.x client, …)
//! in the same run, with criterion. A bench starts a [`Run`] before measuring anything; after
//! criterion has run, [`Run::write_report`] reads the estimates **this run** wrote and writes
//! one machine-readable JSON report per bench target to `benches/report/<bench>.json`, with
//! the run's metadata ([`RunInfo`]: commit, date, CPU model, cores, nats-server and rustc
//! versions, load average).
//!
//! A report is all or nothing: when a pair was not measured by this run (criterion filtered it
//! out, or its estimates are older than the run), or when the bench was built without
//! optimisations, no report is written and the committed one is left as it was
//! ([`ReportError`]). A bench whose correctness checks fail panics before it writes anything.
//!
//! Some measurements are not criterion benchmarks but distributions of a duration the code
//! reports itself (e.g. how long an upgrade paused invocations). [`Distribution`] summarises
//! those; they go into the report under keys of their own.
//!
//! [`table`] builds the README's performance table from the committed reports.

use serde::{Deserialize, Serialize};
use std::{
    env, fs, io,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub mod table;

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

/// Why a report was not written. The committed report is left as it was in every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Some pairs were not measured by this run: criterion filtered them out (a benchmark
    /// name given on the command line), or their estimates are older than the run.
    #[error(
        "this run measured {measured} of {expected} pairs (missing: {}); a report of part of a \
         bench is not written — run the bench without a filter (scripts/bench runs them all)",
        missing.join(", ")
    )]
    Partial {
        /// Pairs this run measured.
        measured: usize,
        /// Pairs the bench has.
        expected: usize,
        /// The criterion ids this run did not measure.
        missing: Vec<String>,
    },
    /// The bench was built without optimisations (`cargo test --benches`, a debug build): its
    /// figures would not mean anything.
    #[error("this bench was built without optimisations; reports come from `cargo bench` only")]
    NotOptimised,
    /// `extra` used a key the report owns.
    #[error("extra report key `{0}` is reserved")]
    ReservedKey(String),
    /// The report could not be encoded or written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The report's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// What kind of [`ReportError`] it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportErrorKind {
    /// [`ReportError::Partial`].
    Partial,
    /// [`ReportError::NotOptimised`].
    NotOptimised,
    /// [`ReportError::ReservedKey`].
    ReservedKey,
    /// [`ReportError::Write`].
    Write,
}

impl ReportError {
    /// What kind of error it is.
    #[must_use]
    pub fn kind(&self) -> ReportErrorKind {
        match self {
            Self::Partial { .. } => ReportErrorKind::Partial,
            Self::NotOptimised => ReportErrorKind::NotOptimised,
            Self::ReservedKey(_) => ReportErrorKind::ReservedKey,
            Self::Write { .. } => ReportErrorKind::Write,
        }
    }
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

/// Criterion's estimates for `id`, if criterion wrote them at or after `since`.
fn timing(dir: &Path, id: &'static str, since: SystemTime) -> Option<Timing> {
    let path = dir.join(id).join("new/estimates.json");
    let written = fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if written < since {
        return None;
    }
    let estimates: Estimates = serde_json::from_str(&fs::read_to_string(&path).ok()?).ok()?;
    Some(Timing {
        id,
        median_ns: estimates.median.point_estimate,
        mean_ns: estimates.mean.point_estimate,
        std_dev_ns: estimates.std_dev.point_estimate,
    })
}

/// A distribution of directly measured durations, in microseconds (nearest-rank
/// percentiles).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
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

/// Where and on what a run measured: every report carries it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// `git rev-parse HEAD` of the checkout the bench was built from.
    pub commit: String,
    /// Whether that checkout had uncommitted changes outside `benches/report/` and
    /// `README.md` when the run started.
    pub commit_dirty: bool,
    /// When the run started, UTC, RFC 3339 (`2026-11-26T18:40:00Z`).
    pub date: String,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Logical cores (`std::thread::available_parallelism`).
    pub cores: usize,
    /// `nats-server --version` of the server the benches start (`NATS_SERVER_BIN`, else
    /// `nats-server` on `PATH`).
    pub nats_server: String,
    /// `rustc --version` of the compiler that built the bench.
    pub rustc: String,
    /// 1-minute load average (`/proc/loadavg`) when the run started.
    pub load_average_at_start: Option<f64>,
    /// 1-minute load average when the report was written.
    pub load_average_at_end: Option<f64>,
    /// Free text from `LATTICE_BENCH_NOTE` (e.g. what else the machine was doing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The checkout the bench was built from.
fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where the reports are committed: `benches/report/` of the checkout the bench was built
/// from (also for benches of other packages, e.g. `interop/`'s, that use this crate).
#[must_use]
pub fn report_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("report")
}

fn command_output(program: impl AsRef<std::ffi::OsStr>, args: &[&str], dir: &Path) -> String {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `unix` seconds as an RFC 3339 UTC timestamp (proleptic Gregorian calendar).
#[must_use]
pub fn rfc3339(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// One run of a bench: started before anything is measured, so that only estimates written
/// afterwards count.
#[derive(Debug)]
pub struct Run {
    started: SystemTime,
    info: RunInfo,
}

impl Run {
    /// Starts a run: notes the time and gathers the run's metadata.
    #[must_use]
    pub fn start() -> Self {
        let started = SystemTime::now();
        let root = repository_root();
        let nats_server = env::var_os(
            "NATS_SERVER_BIN", // lattice_local::NATS_SERVER_BIN_ENV
        )
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "nats-server".into());
        let nats_server = command_output(nats_server, &["--version"], &root);
        let dirty = command_output(
            "git",
            &[
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benches/report",
                ":!README.md",
            ],
            &root,
        );
        let info = RunInfo {
            commit: command_output("git", &["rev-parse", "HEAD"], &root),
            commit_dirty: !dirty.is_empty(),
            date: rfc3339(
                started
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            ),
            cpu_model: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            nats_server: nats_server
                .strip_prefix("nats-server: ")
                .unwrap_or(&nats_server)
                .to_owned(),
            rustc: env!("LATTICE_BENCH_RUSTC").to_owned(),
            load_average_at_start: load_average(),
            load_average_at_end: None,
            note: env::var("LATTICE_BENCH_NOTE")
                .ok()
                .filter(|n| !n.is_empty()),
        };
        Self { started, info }
    }

    /// The run's metadata so far.
    #[must_use]
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// Reads criterion's estimates for every pair, prints a table and writes
    /// `benches/report/<bench>.json` with the run's metadata under `run`, the pairs under
    /// `entries`, and `extra`'s keys (measurements criterion does not make) at the top level.
    ///
    /// # Errors
    ///
    /// [`ReportError`]: a pair this run did not measure, a build without optimisations, a
    /// reserved key in `extra` (`bench`, `unit`, `run`, `entries`), or the write failed.
    /// Nothing is written then.
    pub fn write_report(
        &self,
        bench: &str,
        comparisons: &[Comparison],
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<PathBuf, ReportError> {
        self.write_report_to(&report_dir(), &criterion_dir(), bench, comparisons, extra)
    }

    fn write_report_to(
        &self,
        report_dir: &Path,
        criterion_dir: &Path,
        bench: &str,
        comparisons: &[Comparison],
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<PathBuf, ReportError> {
        const RESERVED_KEYS: [&str; 4] = ["bench", "unit", "run", "entries"];
        if let Some(key) = extra.keys().find(|k| RESERVED_KEYS.contains(&k.as_str())) {
            return Err(ReportError::ReservedKey(key.clone()));
        }
        let mut entries = Vec::new();
        let mut missing = Vec::new();
        for c in comparisons {
            let subject = timing(criterion_dir, c.subject, self.started);
            let baseline = timing(criterion_dir, c.baseline, self.started);
            match (subject, baseline) {
                (Some(subject), Some(baseline)) => entries.push(ReportEntry {
                    what: c.what,
                    ratio: subject.median_ns / baseline.median_ns,
                    subject,
                    baseline,
                }),
                (subject, baseline) => {
                    for (timing, id) in [(subject, c.subject), (baseline, c.baseline)] {
                        if timing.is_none() && !missing.iter().any(|m| m == id) {
                            missing.push(id.to_owned());
                        }
                    }
                }
            }
        }
        println!("\n{bench}: project code vs baseline (median per iteration)");
        for e in &entries {
            println!(
                "  {:<44} {:>12.0} ns  vs {:>12.0} ns  ({:.2}x)  [{} vs {}]",
                e.what,
                e.subject.median_ns,
                e.baseline.median_ns,
                e.ratio,
                e.subject.id,
                e.baseline.id
            );
        }
        if !missing.is_empty() {
            return Err(ReportError::Partial {
                measured: entries.len(),
                expected: comparisons.len(),
                missing,
            });
        }
        if cfg!(debug_assertions) {
            return Err(ReportError::NotOptimised);
        }
        let mut info = self.info.clone();
        info.load_average_at_end = load_average();
        let mut report = serde_json::json!({
            "bench": bench,
            "unit": "ns/iteration",
            "run": info,
            "entries": entries,
        });
        if let Some(object) = report.as_object_mut() {
            object.extend(extra);
        }
        let path = report_dir.join(format!("{bench}.json"));
        let write = || -> io::Result<()> {
            fs::create_dir_all(report_dir)?;
            let mut text = serde_json::to_string_pretty(&report).map_err(io::Error::other)?;
            text.push('\n');
            fs::write(&path, text)
        };
        write().map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        println!("report: {}", path.display());
        Ok(path)
    }

    /// Writes the report as [`Run::write_report`] does and ends the process: exit status 0
    /// with the report written; when it was not, the reason on stderr and exit status 1 —
    /// except a [`ReportErrorKind::Partial`] or [`ReportErrorKind::NotOptimised`] report,
    /// which is expected of a filtered or test run and exits 0, unless
    /// `LATTICE_BENCH_REQUIRE_REPORT` is set (as `scripts/bench` does).
    pub fn finish(
        self,
        bench: &str,
        comparisons: &[Comparison],
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> ! {
        match self.write_report(bench, comparisons, extra) {
            Ok(_) => std::process::exit(0),
            Err(error) => {
                eprintln!("{bench}: report not written: {error}");
                let expected = matches!(
                    error.kind(),
                    ReportErrorKind::Partial | ReportErrorKind::NotOptimised
                );
                let required = env::var_os("LATTICE_BENCH_REQUIRE_REPORT").is_some();
                std::process::exit(if expected && !required { 0 } else { 1 });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_718_450), "2026-11-26T18:40:50Z");
    }

    fn estimates(dir: &Path, id: &str) {
        let path = dir.join(id).join("new");
        fs::create_dir_all(&path).unwrap();
        fs::write(
            path.join("estimates.json"),
            r#"{"mean":{"point_estimate":2.0},"median":{"point_estimate":2.0},"std_dev":{"point_estimate":0.1}}"#,
        )
        .unwrap();
    }

    const PAIR: Comparison = Comparison {
        what: "pair",
        subject: "g/subject",
        baseline: "g/baseline",
    };

    #[test]
    fn estimates_older_than_the_run_are_not_reported() {
        let criterion = tempfile::tempdir().unwrap();
        let reports = tempfile::tempdir().unwrap();
        // A previous run (an hour ago) measured both.
        for id in ["g/subject", "g/baseline"] {
            estimates(criterion.path(), id);
            fs::File::options()
                .write(true)
                .open(criterion.path().join(id).join("new/estimates.json"))
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(3600))
                .unwrap();
        }
        let run = Run::start();
        // This run measured only the subject (the baseline was filtered out).
        estimates(criterion.path(), "g/subject");
        let error = run
            .write_report_to(
                reports.path(),
                criterion.path(),
                "b",
                &[PAIR],
                serde_json::Map::new(),
            )
            .unwrap_err();
        assert_eq!(error.kind(), ReportErrorKind::Partial, "{error}");
        assert!(error.to_string().contains("g/baseline"), "{error}");
        assert!(!reports.path().join("b.json").exists());
    }

    #[test]
    fn a_complete_run_is_reported_with_its_metadata_or_refused_unoptimised() {
        let criterion = tempfile::tempdir().unwrap();
        let reports = tempfile::tempdir().unwrap();
        let run = Run::start();
        estimates(criterion.path(), "g/subject");
        estimates(criterion.path(), "g/baseline");
        let written = run.write_report_to(
            reports.path(),
            criterion.path(),
            "b",
            &[PAIR],
            serde_json::Map::new(),
        );
        if cfg!(debug_assertions) {
            assert_eq!(written.unwrap_err().kind(), ReportErrorKind::NotOptimised);
            assert!(!reports.path().join("b.json").exists());
        } else {
            let report: serde_json::Value =
                serde_json::from_slice(&fs::read(written.unwrap()).unwrap()).unwrap();
            let info: RunInfo = serde_json::from_value(report["run"].clone()).unwrap();
            assert_eq!(info.commit.len(), 40, "{info:?}");
            assert!(info.cores >= 1);
            assert!(info.rustc.starts_with("rustc "), "{info:?}");
            assert_eq!(report["entries"][0]["ratio"], 1.0);
        }
    }

    #[test]
    fn run_metadata_names_commit_cpu_and_compiler() {
        let info = Run::start().info().clone();
        assert_eq!(info.commit.len(), 40, "{info:?}");
        assert!(info.rustc.starts_with("rustc "), "{info:?}");
        assert!(info.date.ends_with('Z'), "{info:?}");
        assert_ne!(info.cpu_model, "", "{info:?}");
    }

    #[test]
    fn reserved_keys_are_refused() {
        let mut extra = serde_json::Map::new();
        extra.insert("run".into(), serde_json::json!(1));
        let error = Run::start()
            .write_report_to(
                Path::new("/nonexistent"),
                Path::new("/nonexistent"),
                "b",
                &[],
                extra,
            )
            .unwrap_err();
        assert_eq!(error.kind(), ReportErrorKind::ReservedKey);
    }
}
