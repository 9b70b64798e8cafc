//! How a rollout's progress is shown while it runs, and the summary at its end.
//!
//! - On a terminal (stdout and stderr both are one): a live progress bar on stderr — hosts
//!   done of hosts to do, the state and the step — redrawn in place.
//! - Otherwise (a pipe, a file, CI): plain lines on stdout, a few per step (when a step starts
//!   applying, when its hosts are done, when the state changes) and, while a rollback runs, at
//!   most one every [`PLAIN_EVERY`] — never one per host.
//! - With `-v`: one line per host as its progress changes, on either.
//!
//! The summary at the end names the hosts that failed, grouped by reason (code and component
//! or provider), a few per reason.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lattice_rollout::{HostFailures, HostProgress, RolloutRecord};
use lattice_status::RolloutState;
use std::{
    collections::BTreeMap,
    io::IsTerminal as _,
    time::{Duration, Instant},
};

/// At most one plain line this often while the same phase goes on (a rollback of thousands of
/// hosts stores its progress many times).
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// Hosts named per reason in the summary; the rest are counted.
const HOSTS_PER_REASON: usize = 10;

/// Where a rollout is, coarsely: a plain line is printed when this changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Phase {
    state: RolloutState,
    step: usize,
    applying: bool,
}

impl Phase {
    fn of(record: &RolloutRecord) -> Self {
        Self {
            state: record.state,
            step: record.next_step,
            applying: record.hosts.values().any(|p| *p == HostProgress::Applying),
        }
    }
}

/// Shows a rollout's progress as its records arrive.
pub(crate) struct RolloutProgress {
    /// The live bar, on a terminal.
    bar: Option<ProgressBar>,
    verbose: bool,
    phase: Option<Phase>,
    printed_at: Instant,
    last_line: String,
    hosts: BTreeMap<lattice_spec::HostId, HostProgress>,
    not_restored: usize,
}

impl RolloutProgress {
    /// A display for this process's output: live on a terminal, plain lines otherwise.
    pub(crate) fn new(verbose: bool) -> Self {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        if terminal {
            Self::live(ProgressDrawTarget::stderr(), verbose)
        } else {
            Self::plain(verbose)
        }
    }

    /// Plain lines on stdout.
    pub(crate) fn plain(verbose: bool) -> Self {
        Self {
            bar: None,
            verbose,
            phase: None,
            printed_at: Instant::now(),
            last_line: String::new(),
            hosts: BTreeMap::new(),
            not_restored: 0,
        }
    }

    /// A live bar drawn on `target`.
    pub(crate) fn live(target: ProgressDrawTarget, verbose: bool) -> Self {
        // No length until the first record: a spinner, not an empty bar drawn full.
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} [{wide_bar}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let mut progress = Self::plain(verbose);
        progress.bar = Some(bar);
        progress
    }

    /// Shows `record`, the latest state of the rollout.
    pub(crate) fn update(&mut self, record: &RolloutRecord) {
        if self.verbose {
            for line in self.host_lines(record) {
                self.print(&line);
            }
        }
        let phase = Phase::of(record);
        match &self.bar {
            Some(bar) => {
                let (done, of) = done_of(record);
                bar.set_length(of as u64);
                bar.set_position(done as u64);
                bar.set_message(phase_text(record));
            }
            None => {
                let changed = self.phase != Some(phase);
                let due = self.printed_at.elapsed() >= PLAIN_EVERY;
                let line = progress_line(record);
                if (changed || due) && line != self.last_line && !record.is_finished() {
                    println!("{line}");
                    self.printed_at = Instant::now();
                    self.last_line = line;
                }
            }
        }
        self.phase = Some(phase);
    }

    /// Removes the bar, so the summary prints below where it was.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// One line on top of the bar, or on stdout.
    fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    /// One line per host whose progress changed since the last record, and per host newly
    /// found not restorable.
    fn host_lines(&mut self, record: &RolloutRecord) -> Vec<String> {
        let stamp = stamp(record);
        let mut lines = Vec::new();
        for (host, progress) in &record.hosts {
            if self.hosts.get(host) != Some(progress) {
                lines.push(format!("{stamp} {host}: {progress}"));
            }
        }
        let not_restored = HostFailures::count(&record.rollback_failures);
        if not_restored != self.not_restored {
            for group in &record.rollback_failures {
                for host in &group.hosts {
                    if self.hosts.get(host) != Some(&HostProgress::RolledBack) {
                        lines.push(format!(
                            "{stamp} {host}: not restored: {}",
                            reason_text(group)
                        ));
                    }
                }
            }
            // A host reported once: the next record lists it again.
            lines.dedup();
        }
        self.hosts.clone_from(&record.hosts);
        self.not_restored = not_restored;
        lines
    }
}

impl Drop for RolloutProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Hosts done and hosts to do in the rollout's current phase: upgraded (running or failed)
/// of all while it rolls forward; restored or not restorable of the hosts touched while it
/// rolls back.
fn done_of(record: &RolloutRecord) -> (usize, usize) {
    let count = |p: HostProgress| record.hosts.values().filter(|h| **h == p).count();
    let rolled_back = count(HostProgress::RolledBack);
    match record.state {
        RolloutState::RollingBack
        | RolloutState::RolledBack
        | RolloutState::Aborted
        | RolloutState::Failed
            if record.failure.is_some() =>
        {
            let touched = record
                .hosts
                .values()
                .filter(|p| **p != HostProgress::Pending)
                .count();
            (
                rolled_back + HostFailures::count(&record.rollback_failures),
                touched,
            )
        }
        _ => (
            count(HostProgress::Running) + count(HostProgress::Failed),
            record.hosts.len(),
        ),
    }
}

/// `hosts rolling_back, step 2/3`: short, so the bar keeps to one line of a narrow terminal.
fn phase_text(record: &RolloutRecord) -> String {
    let mut text = format!(
        "hosts {}, step {}/{}",
        record.state,
        (record.next_step + 1).min(record.plan.steps.len()),
        record.plan.steps.len(),
    );
    let failed = HostFailures::count(&record.host_failures);
    if failed > 0 {
        text.push_str(&format!(", {failed} failed"));
    }
    let not_restored = HostFailures::count(&record.rollback_failures);
    if not_restored > 0 {
        text.push_str(&format!(", {not_restored} not restored"));
    }
    text
}

/// `[   1.2s]`: time since the rollout started.
fn stamp(record: &RolloutRecord) -> String {
    format!("[{:>6.1}s]", lattice_rollout::elapsed(record).as_secs_f64())
}

/// The one-line summary of a rollout: state, step and hosts per progress.
pub(crate) fn progress_line(record: &RolloutRecord) -> String {
    let count = |p: HostProgress| record.hosts.values().filter(|h| **h == p).count();
    let mut line = format!(
        "{} {} revision {}: {} — step {}/{}, hosts: {} running, {} applying, {} pending, {} failed, {} rolled back",
        stamp(record),
        record.app,
        record.plan.to,
        record.state,
        (record.next_step + 1).min(record.plan.steps.len()),
        record.plan.steps.len(),
        count(HostProgress::Running),
        count(HostProgress::Applying),
        count(HostProgress::Pending),
        count(HostProgress::Failed),
        count(HostProgress::RolledBack),
    );
    let not_restored = HostFailures::count(&record.rollback_failures);
    if not_restored > 0 {
        line.push_str(&format!(", {not_restored} not restored"));
    }
    line
}

/// `link_refused, component web`.
fn reason_text(group: &HostFailures) -> String {
    let mut text = group.code.to_string();
    if let Some(component) = &group.component {
        text.push_str(&format!(", component {component}"));
    }
    if let Some(provider) = &group.provider {
        text.push_str(&format!(", provider {provider}"));
    }
    text
}

/// The failed hosts of `record`, grouped by reason, each group with a few hosts named and the
/// first host's message; empty when no host failed.
pub(crate) fn failed_hosts_summary(record: &RolloutRecord) -> Vec<String> {
    let mut lines = Vec::new();
    let sections = [
        ("upgrade failed on", &record.host_failures),
        ("the rollback could not restore", &record.rollback_failures),
    ];
    for (title, groups) in sections {
        if groups.is_empty() {
            continue;
        }
        lines.push(format!("{title} {}:", hosts(HostFailures::count(groups))));
        for group in groups {
            lines.push(format!(
                "  {} ({}): {}",
                reason_text(group),
                hosts(group.hosts.len()),
                named(&group.hosts)
            ));
            if let Some(first) = group.hosts.first() {
                lines.push(format!("    {first}: {}", group.message));
            }
        }
    }
    lines
}

/// `1 host`, `1,234 hosts`.
fn hosts(n: usize) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped} host{}", if n == 1 { "" } else { "s" })
}

/// The first [`HOSTS_PER_REASON`] hosts, and how many more.
fn named(list: &[lattice_spec::HostId]) -> String {
    let shown: Vec<&str> = list
        .iter()
        .take(HOSTS_PER_REASON)
        .map(lattice_spec::HostId::as_str)
        .collect();
    let mut text = shown.join(", ");
    if list.len() > HOSTS_PER_REASON {
        text.push_str(&format!(
            " … and {} more (`lattice rollout status APP -o json` lists them all)",
            list.len() - HOSTS_PER_REASON
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::TermLike;
    use lattice_rollout::{
        AppName, FailureCode, RolloutFailure, RolloutOptions, Strategy,
        plan::{Gate, Plan, Step},
    };
    use lattice_spec::{HostId, Revision};
    use std::sync::{Arc, Mutex};

    fn record(n: usize) -> RolloutRecord {
        let hosts: Vec<HostId> = (1..=n)
            .map(|i| HostId::new(format!("host-{i}")).unwrap())
            .collect();
        let targets = hosts
            .iter()
            .map(|h| (h.clone(), vec!["web".parse().unwrap()]))
            .collect();
        let plan = Plan::new(
            Revision(2),
            Some(Revision(1)),
            targets,
            vec![Step::new(hosts, Gate::Healthy)],
            lattice_rollout::OnFailure::Rollback,
            Duration::from_secs(1),
        );
        RolloutRecord::new(
            AppName::new("shop").unwrap(),
            Strategy::AllAtOnce,
            RolloutOptions::default(),
            plan,
        )
    }

    fn fail_all(record: &mut RolloutRecord, code: FailureCode) {
        let hosts: Vec<HostId> = record.hosts.keys().cloned().collect();
        for host in hosts {
            record.hosts.insert(host.clone(), HostProgress::Failed);
            let failure = RolloutFailure::new(code, "connection refused by redis")
                .on_host(host.clone())
                .component("web".parse().unwrap());
            HostFailures::add(&mut record.host_failures, host, &failure);
        }
    }

    #[test]
    fn thousands_of_failed_hosts_are_grouped_by_reason_and_truncated() {
        let mut record = record(2_000);
        fail_all(&mut record, FailureCode::LinkRefused);
        let deadline = RolloutFailure::new(FailureCode::Deadline, "not back within 1s");
        HostFailures::add(
            &mut record.rollback_failures,
            HostId::new("host-7").unwrap(),
            &deadline,
        );
        let lines = failed_hosts_summary(&record);
        assert_eq!(
            lines,
            [
                "upgrade failed on 2,000 hosts:",
                "  link_refused, component web (2,000 hosts): host-1, host-10, host-100, host-1000, host-1001, host-1002, host-1003, host-1004, host-1005, host-1006 … and 1990 more (`lattice rollout status APP -o json` lists them all)",
                "    host-1: connection refused by redis",
                "the rollback could not restore 1 host:",
                "  deadline (1 host): host-7",
                "    host-7: not back within 1s",
            ]
        );
    }

    /// A terminal stand-in that keeps every line written to it.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn on_a_terminal_the_bar_counts_hosts_done_and_verbose_adds_a_line_per_host() {
        let screen = Screen::default();
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let mut progress = RolloutProgress::live(target, true);
        let mut rolling = record(3);
        rolling.state = RolloutState::Progressing;
        rolling
            .hosts
            .insert(HostId::new("host-1").unwrap(), HostProgress::Running);
        progress.update(&rolling);
        let bar = progress.bar.clone().unwrap();
        assert_eq!((bar.position(), bar.length()), (1, Some(3)));
        assert_eq!(bar.message(), "hosts progressing, step 1/1");
        bar.tick();
        let drawn = screen.0.lock().unwrap().join("\n");
        assert!(drawn.contains("] 1/3 hosts progressing"), "{drawn}");
        assert!(
            drawn.contains("host-1: running"),
            "one line per host with -v: {drawn}"
        );

        // Rolling back: the bar counts the hosts restored of the hosts touched.
        rolling.state = RolloutState::RollingBack;
        rolling.failure = Some(RolloutFailure::new(FailureCode::Deadline, "late"));
        rolling
            .hosts
            .insert(HostId::new("host-1").unwrap(), HostProgress::RolledBack);
        rolling
            .hosts
            .insert(HostId::new("host-2").unwrap(), HostProgress::Failed);
        progress.update(&rolling);
        assert_eq!((bar.position(), bar.length()), (1, Some(2)));
        progress.finish();
        assert!(bar.is_finished());
    }

    #[test]
    fn plain_lines_follow_phases_not_hosts() {
        let mut progress = RolloutProgress::plain(false);
        let mut rolling = record(1_000);
        rolling.state = RolloutState::Progressing;
        progress.update(&rolling);
        let first = progress.last_line.clone();
        // Hosts finishing one by one within a phase print nothing more.
        let hosts: Vec<HostId> = rolling.hosts.keys().cloned().collect();
        for host in &hosts[..10] {
            rolling.hosts.insert(host.clone(), HostProgress::Applying);
        }
        progress.update(&rolling);
        let applying = progress.last_line.clone();
        assert_ne!(first, applying, "a step starting to apply is a new phase");
        for host in &hosts[..10] {
            rolling.hosts.insert(host.clone(), HostProgress::Running);
            progress.update(&rolling);
            rolling.hosts.insert(host.clone(), HostProgress::Applying);
        }
        assert_eq!(progress.last_line, applying, "no line per host");
    }
}
