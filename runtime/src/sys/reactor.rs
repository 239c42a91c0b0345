//! Registering a channel's descriptors with the tokio reactor (feature `tokio`).

use std::io;
use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::doorbell::Doorbell;
use super::process::PidFd;

/// Registers the doorbell for readability with the current runtime's reactor.
pub(crate) fn register_doorbell(doorbell: Arc<Doorbell>) -> io::Result<AsyncFd<Arc<Doorbell>>> {
    // SAFETY: the Arc keeps the Doorbell, and with it its OwnedFd, alive and open for the
    // AsyncFd's whole life; the field is private and never replaced, so `as_raw_fd` always
    // returns the same descriptor of the same eventfd.
    unsafe { AsyncFd::register_with_interest(doorbell, Interest::READABLE) }
        .map_err(io::Error::from)
}

/// Registers a pidfd for readability (readable once its process has exited).
pub(crate) fn register_pidfd(pidfd: Arc<PidFd>) -> io::Result<AsyncFd<Arc<PidFd>>> {
    // SAFETY: as in `register_doorbell`: the Arc keeps the PidFd's private OwnedFd open and
    // unchanged for the AsyncFd's whole life.
    unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }.map_err(io::Error::from)
}
