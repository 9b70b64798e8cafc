//! Durations on the command line (`500ms`, `5s`, `2m`) and in output (`1.25s`, `3h4m`).

use std::time::Duration;

/// Parses a duration as `humantime` reads it: `500ms`, `5s`, `2m`, `1h 30m`, …
///
/// # Errors
///
/// A message saying what is expected, for clap to show.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}): write e.g. `500ms`, `5s` or `2m`"))
}

/// A duration for humans: `850ms`, `1.25s`, `42s`, `5m3s`, `3h4m`, `2d5h`.
pub(crate) fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration.is_zero() {
        return "0s".to_owned();
    }
    if seconds == 0 {
        return format!("{}ms", duration.as_millis());
    }
    if seconds < 10 && duration.subsec_millis() != 0 {
        return format!("{:.2}s", duration.as_secs_f64());
    }
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m{}s", seconds % 60),
        (0, h, m) => format!("{h}h{m}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_units() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5h"), Ok(Duration::from_secs(5 * 3600)));
        assert!(parse("5").is_err());
        assert!(parse("s").is_err());
        assert!(
            parse("5 parsecs")
                .unwrap_err()
                .contains("is not a duration")
        );
    }

    #[test]
    fn formats_for_humans() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(1250)), "1.25s");
        assert_eq!(human(Duration::from_secs(42)), "42s");
        assert_eq!(human(Duration::from_secs(5)), "5s");
        assert_eq!(human(Duration::from_secs(303)), "5m3s");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 4 * 60 + 5)), "3h4m");
        assert_eq!(human(Duration::from_secs(2 * 86_400 + 5 * 3600)), "2d5h");
    }
}
