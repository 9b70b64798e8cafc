//! What the harness reads about processes and nats-servers: resident memory and CPU time from
//! `/proc`, and nats-server's monitoring endpoint (`/varz`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

/// The resident set size of process `pid` in KiB (`VmRSS`), 0 if it cannot be read.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The CPU time (user + system) process `pid` has used, 0 if it cannot be read.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 1000 / clock_ticks_per_second())
}

/// `getconf CLK_TCK`, 100 if it cannot be run.
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    })
}

/// GETs `path` from a nats-server's monitoring port and parses the JSON body.
pub(crate) fn monitoring(port: u16, path: &str) -> Option<serde_json::Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8(response).ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// What the nats-servers hold at one moment, summed over the servers.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServerSample {
    /// Resident memory, KiB.
    pub(crate) rss_kib: u64,
    /// CPU time used so far.
    pub(crate) cpu: Duration,
    /// Subscriptions (`/varz` `subscriptions`), summed: in a cluster each server holds its own
    /// clients' and its routes' interest.
    pub(crate) subscriptions: u64,
    /// Client connections (`/varz` `connections`).
    pub(crate) connections: u64,
}

/// Samples every server: `(pid, monitoring port)`.
pub(crate) fn sample_servers(servers: &[(u32, u16)]) -> ServerSample {
    let mut sample = ServerSample::default();
    for &(pid, port) in servers {
        sample.rss_kib += rss_kib(pid);
        sample.cpu += cpu_time(pid);
        if let Some(varz) = monitoring(port, "/varz") {
            sample.subscriptions += varz["subscriptions"].as_u64().unwrap_or(0);
            sample.connections += varz["connections"].as_u64().unwrap_or(0);
        }
    }
    sample
}

/// The CPU model of this machine (`/proc/cpuinfo`).
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
