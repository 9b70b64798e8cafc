//! The README's performance table, built from the committed reports
//! (`benches/report/*.json`): `cargo run -p lattice-benches --bin bench-table` writes it
//! between [`START`] and [`END`] in `README.md`, and a test checks that the README holds
//! what the committed reports generate, so the two cannot drift apart.

use serde_json::Value;
use std::{fmt::Write as _, fs, io, path::Path};

/// The marker line before the generated table in `README.md`.
pub const START: &str = "<!-- bench-table:start -->";
/// The marker line after it.
pub const END: &str = "<!-- bench-table:end -->";

/// The reports the table is built from, in table order.
pub const REPORTS: [&str; 5] = ["wire", "runtime", "upgrade", "pause", "official"];

/// Why the table could not be built or placed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// A report could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A report is not JSON.
    #[error("{path} is not JSON: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A report lacks a value the table shows.
    #[error("the {report} report has no `{key}` (regenerate it with scripts/bench)")]
    Missing {
        /// The report.
        report: String,
        /// The path of the value, dot-separated.
        key: String,
    },
    /// `README.md` lacks the markers, or has them out of order.
    #[error("README.md has no `{START}` … `{END}` section")]
    NoMarkers,
}

/// What kind of [`TableError`] it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableErrorKind {
    /// [`TableError::Read`].
    Read,
    /// [`TableError::Parse`].
    Parse,
    /// [`TableError::Missing`].
    Missing,
    /// [`TableError::NoMarkers`].
    NoMarkers,
}

impl TableError {
    /// What kind of error it is.
    #[must_use]
    pub fn kind(&self) -> TableErrorKind {
        match self {
            Self::Read { .. } => TableErrorKind::Read,
            Self::Parse { .. } => TableErrorKind::Parse,
            Self::Missing { .. } => TableErrorKind::Missing,
            Self::NoMarkers => TableErrorKind::NoMarkers,
        }
    }
}

/// One report, with lookups that name what is missing.
struct Report {
    name: &'static str,
    value: Value,
}

impl Report {
    fn load(dir: &Path, name: &'static str) -> Result<Self, TableError> {
        let path = dir.join(format!("{name}.json"));
        let display = format!("benches/report/{name}.json");
        let text = fs::read_to_string(&path).map_err(|source| TableError::Read {
            path: display.clone(),
            source,
        })?;
        let value = serde_json::from_str(&text).map_err(|source| TableError::Parse {
            path: display,
            source,
        })?;
        Ok(Self { name, value })
    }

    fn get<'a>(&self, value: &'a Value, key: &str) -> Result<&'a Value, TableError> {
        key.split('.')
            .try_fold(value, |v, part| match part.parse::<usize>() {
                Ok(i) => v.get(i),
                Err(_) => v.get(part),
            })
            .filter(|v| !v.is_null())
            .ok_or_else(|| TableError::Missing {
                report: self.name.to_owned(),
                key: key.to_owned(),
            })
    }

    fn at(&self, key: &str) -> Result<&Value, TableError> {
        self.get(&self.value, key)
    }

    fn num(&self, value: &Value, key: &str) -> Result<f64, TableError> {
        self.get(value, key)?
            .as_f64()
            .ok_or_else(|| TableError::Missing {
                report: self.name.to_owned(),
                key: format!("{key} (a number)"),
            })
    }

    fn text<'a>(&self, value: &'a Value, key: &str) -> Result<&'a str, TableError> {
        self.get(value, key)?
            .as_str()
            .ok_or_else(|| TableError::Missing {
                report: self.name.to_owned(),
                key: format!("{key} (a string)"),
            })
    }

    fn array(&self, key: &str) -> Result<&Vec<Value>, TableError> {
        self.at(key)?.as_array().ok_or_else(|| TableError::Missing {
            report: self.name.to_owned(),
            key: format!("{key} (an array)"),
        })
    }

    /// `p50 / p99` of a [`Distribution`](crate::Distribution) at `key` under `value`.
    fn p50_p99(&self, value: &Value, key: &str) -> Result<(f64, f64), TableError> {
        let d = self.get(value, key)?;
        Ok((self.num(d, "p50_us")?, self.num(d, "p99_us")?))
    }
}

/// A duration in nanoseconds, in the unit that reads best.
#[must_use]
pub fn duration(ns: f64) -> String {
    if ns < 10.0 {
        format!("{ns:.1} ns")
    } else if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e5 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e6 {
        format!("{:.0} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

fn us(us: f64) -> String {
    duration(us * 1e3)
}

fn ratio(r: f64) -> String {
    if r < 0.1 {
        format!("{r:.3}×")
    } else {
        format!("{r:.2}×")
    }
}

fn row(out: &mut String, bench: &str, what: &str, subject: &str, baseline: &str, ratio: &str) {
    let _ = writeln!(
        out,
        "| {bench} | {what} | {subject} | {baseline} | {ratio} |"
    );
}

/// The criterion pairs of a report, one row each.
fn entries(out: &mut String, report: &Report) -> Result<(), TableError> {
    for entry in report.array("entries")? {
        row(
            out,
            report.name,
            report.text(entry, "what")?,
            &duration(report.num(entry, "subject.median_ns")?),
            &duration(report.num(entry, "baseline.median_ns")?),
            &ratio(report.num(entry, "ratio")?),
        );
    }
    Ok(())
}

fn upgrade(out: &mut String, report: &Report) -> Result<(), TableError> {
    for series in report.array("pause_window.series")? {
        let label = report.text(series, "label")?;
        let (p50, p99) = report.p50_p99(series, "pause")?;
        let (f50, f99) = report.p50_p99(series, "raw_link_requests_as_the_host_sends_them")?;
        row(
            out,
            report.name,
            &format!("pause window, 4 changed links, {label} (p50 / p99)"),
            &format!("{} / {}", us(p50), us(p99)),
            &format!(
                "raw link requests, concurrent as the host sends them: {} / {}",
                us(f50),
                us(f99)
            ),
            &format!("{} / {}", ratio(p50 / f50), ratio(p99 / f99)),
        );
        if let Some(load) = series.get("load").filter(|l| !l.is_null()) {
            row(
                out,
                report.name,
                &format!(
                    "invocations during {} upgrades under load ({label}, {} callers)",
                    report.num(series, "upgrades")?,
                    report.num(load, "callers")?
                ),
                &format!(
                    "{} answered ({:.0}/s), {} failed, {} held by a pause",
                    report.num(load, "answered")?,
                    report.num(load, "per_second")?,
                    report.num(load, "failed")?,
                    report.num(load, "held_by_a_pause")?
                ),
                "—",
                "—",
            );
        }
    }
    entries(out, report)?;
    let interleaved = report.at("inventory_round_trip_interleaved")?;
    let typed = report.num(interleaved, "typed_client.p50_us")?;
    let raw = report.num(interleaved, "raw_async_nats.p50_us")?;
    row(
        out,
        report.name,
        "inventory round trip, typed client vs raw async-nats, alternated in one loop (p50)",
        &us(typed),
        &us(raw),
        &ratio(typed / raw),
    );
    Ok(())
}

fn pause(out: &mut String, report: &Report) -> Result<(), TableError> {
    let timeout_ms = report.num(report.at("pause_window")?, "reply_timeout_ms")?;
    for series in report.array("pause_window.series")? {
        let (p50, _) = report.p50_p99(series, "pause")?;
        let max = report.num(series, "pause.max_us")?;
        row(
            out,
            report.name,
            &format!(
                "pause window, 4 changed links, {} under load, reply timeout {} ms (p50 / max)",
                report.text(series, "providers")?,
                timeout_ms
            ),
            &format!("{} / {}", us(p50), us(max)),
            &format!(
                "one reply timeout; {} answered, {} failed, {} held",
                report.num(series, "invocations.answered")?,
                report.num(series, "invocations.failed")?,
                report.num(series, "invocations.held_by_a_pause")?
            ),
            &format!("max {}", ratio(max / (timeout_ms * 1e3))),
        );
    }
    Ok(())
}

fn official(out: &mut String, report: &Report) -> Result<(), TableError> {
    let discovery = report.at("discovery")?;
    let (l50, _) = report.p50_p99(discovery, "lattice")?;
    let (o50, _) = report.p50_p99(discovery, "official")?;
    row(
        out,
        report.name,
        &format!(
            "discover {} hosts (p50): lattice `discover_hosts(Discover::expecting(n))` vs official `get_hosts()` (auction timeout {} ms; it always waits it out)",
            report.num(discovery, "hosts")?,
            report.num(discovery, "official_auction_timeout_ms")?
        ),
        &us(l50),
        &us(o50),
        &ratio(l50 / o50),
    );
    entries(out, report)
}

/// The table (with its header and a line per report naming where and when it was measured),
/// built from the reports in `dir`.
///
/// A report that is not there gets a row saying so (the table never shows a figure no report
/// holds).
///
/// # Errors
///
/// [`TableError`]: a report unreadable, not JSON, or without a value the table shows.
pub fn generate(dir: &Path) -> Result<String, TableError> {
    let mut out = String::new();
    out.push_str("| bench | what | lattice | baseline | ratio |\n|---|---|---|---|---|\n");
    let mut footer = String::new();
    for name in REPORTS {
        if !dir.join(format!("{name}.json")).exists() {
            row(
                &mut out,
                name,
                "no report committed: run `scripts/bench`",
                "—",
                "—",
                "—",
            );
            let _ = writeln!(footer, "- `{name}`: not measured");
            continue;
        }
        let report = Report::load(dir, name)?;
        match name {
            "upgrade" => upgrade(&mut out, &report)?,
            "pause" => pause(&mut out, &report)?,
            "official" => official(&mut out, &report)?,
            _ => entries(&mut out, &report)?,
        }
        let run = report.at("run")?;
        let load = |key| {
            report
                .num(run, key)
                .map_or_else(|_| "?".to_owned(), |l| format!("{l:.2}"))
        };
        let commit = report.text(run, "commit")?;
        let _ = writeln!(
            footer,
            "- `{name}`: commit {}{}, {}, {} ({} cores), nats-server {}, {}, load average {} → {}{}",
            commit.get(..10).unwrap_or(commit),
            if run.get("commit_dirty") == Some(&Value::Bool(true)) {
                " (with uncommitted changes)"
            } else {
                ""
            },
            report.text(run, "date")?,
            report.text(run, "cpu_model")?,
            report.num(run, "cores")?,
            report.text(run, "nats_server")?,
            report.text(run, "rustc")?,
            load("load_average_at_start"),
            load("load_average_at_end"),
            run.get("note")
                .and_then(Value::as_str)
                .map(|n| format!(" — {n}"))
                .unwrap_or_default(),
        );
    }
    out.push_str("\nMeasured (from each report's `run`):\n\n");
    out.push_str(&footer);
    Ok(out)
}

/// `readme` with the text between the [`START`] and [`END`] lines replaced by `table`.
///
/// # Errors
///
/// [`TableError::NoMarkers`] when the markers are missing or out of order.
pub fn splice(readme: &str, table: &str) -> Result<String, TableError> {
    let start = readme.find(START).ok_or(TableError::NoMarkers)? + START.len();
    let end = readme[start..].find(END).ok_or(TableError::NoMarkers)? + start;
    Ok(format!("{}\n{}{}", &readme[..start], table, &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(duration(7.25), "7.2 ns");
        assert_eq!(duration(531.5), "532 ns");
        assert_eq!(duration(38_353.9), "38.4 µs");
        assert_eq!(duration(401_286.7), "401 µs");
        assert_eq!(duration(2_435_198.0), "2.44 ms");
        assert_eq!(duration(2_001_940_354.0), "2.002 s");
    }

    #[test]
    fn splice_replaces_only_between_the_markers() {
        let readme = format!("a\n{START}\nold\n{END}\nb\n");
        assert_eq!(
            splice(&readme, "new\n").unwrap(),
            format!("a\n{START}\nnew\n{END}\nb\n")
        );
        assert_eq!(
            splice("no markers", "x").unwrap_err().kind(),
            TableErrorKind::NoMarkers
        );
    }

    #[test]
    fn a_missing_value_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("wire.json"),
            r#"{"entries": [{"what": "x"}]}"#,
        )
        .unwrap();
        let error = generate(dir.path()).unwrap_err();
        assert_eq!(error.kind(), TableErrorKind::Missing);
        assert!(error.to_string().contains("subject.median_ns"), "{error}");
    }
}
