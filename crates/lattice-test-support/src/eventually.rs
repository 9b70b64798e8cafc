//! Waiting for a state that has no event to wait on (a 1.x host's inventory, a lattice's
//! 1.x links): read it again and again until it is reached, under a deadline.

use std::{fmt::Debug, future::Future, time::Duration};

/// How long [`read_until`] waits between two reads.
pub const READ_INTERVAL: Duration = Duration::from_millis(20);

/// Calls `read` until `done` holds of what it returns, and returns that. Between two reads it
/// waits [`READ_INTERVAL`]: a poll interval inside the deadline, not a synchronisation.
///
/// # Panics
///
/// When `bound` passes first, naming `what` and showing the last value read (and `context()`,
/// e.g. the end of a server's log).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::{sync::atomic::{AtomicU32, Ordering}, time::Duration};
///
/// let reads = AtomicU32::new(0);
/// let n = lattice_test_support::read_until(
///     "the third read",
///     Duration::from_secs(5),
///     || async { reads.fetch_add(1, Ordering::SeqCst) + 1 },
///     |n| *n == 3,
///     String::new,
/// )
/// .await;
/// assert_eq!(n, 3);
/// # }
/// ```
pub async fn read_until<T, F>(
    what: &str,
    bound: Duration,
    mut read: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
    context: impl Fn() -> String,
) -> T
where
    T: Debug,
    F: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not reached within {bound:?}: {value:#?}\n{}",
            context()
        );
        tokio::time::sleep(READ_INTERVAL).await;
    }
}
