//! The one wait of the library: polls a condition until it yields a value or a deadline
//! passes (the demo waits on its nodes' state with it). For something that happens; an
//! expiry reads [`crate::clock::Clock`] instead.

use std::time::Duration;

/// How often [`until`] looks again.
const EVERY: Duration = Duration::from_millis(5);

/// Polls `check` until it yields `Some`, for at most `within`: `Ok(None)` when it never did.
/// An error of `check` ends the wait.
pub async fn until<T, E>(
    within: Duration,
    mut check: impl FnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check()? {
            return Ok(Some(value));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(EVERY).await;
    }
}
