//! Where CPU or blocking work runs: on the tokio runtime's blocking pool
//! when there is a runtime, so no executor thread waits on it, and right
//! here when a host polls the crate with another executor.

/// Runs `work` on the current tokio runtime's blocking pool, or right
/// here without a runtime.
///
/// # Errors
/// The pool's error when the work panicked or the runtime shut down
/// before it finished.
pub(crate) async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.spawn_blocking(work).await,
        Err(_) => Ok(work()),
    }
}
