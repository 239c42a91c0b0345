//! The doorbell: a non-blocking eventfd per channel that the worker writes when its reply
//! finds the controller parked asynchronously (in an event loop, not in `FUTEX_WAIT`), so
//! that the reply can wake a reactor, which cannot wait on a futex.
//!
//! The worker rings it only when the control block says the controller is parked that way
//! (see `channel::wait::post`), so the blocking path never writes it. The controller drains
//! it after each wake-up: a ring only says "look at the reply word again", never what the
//! reply is, so a ring left over from an abandoned call costs one spurious look.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::cvt;

/// An eventfd in non-blocking mode: rung by the worker, drained by the controller.
#[derive(Debug)]
pub(crate) struct Doorbell {
    fd: OwnedFd,
}

impl Doorbell {
    /// A new doorbell, close-on-exec (handed to one worker by `sys::spawn::inherit_fds`).
    pub(crate) fn new() -> io::Result<Doorbell> {
        // SAFETY: eventfd takes an initial value and flags and returns a new fd or -1.
        let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: the kernel just returned `raw` as a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Doorbell { fd })
    }

    /// Takes ownership of the inherited descriptor `raw` (the worker's side), after checking
    /// that it is open. It is made close-on-exec again, so the worker's own children do not
    /// inherit it.
    pub(crate) fn adopt(raw: RawFd) -> io::Result<Doorbell> {
        // SAFETY: F_GETFD only reads the descriptor flags; it fails with EBADF if `raw` is
        // not open, and then nothing is adopted.
        let flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
        // SAFETY: as above, F_SETFD only writes this process's descriptor flags.
        cvt(unsafe { libc::fcntl(raw, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
        // SAFETY: the token names `raw` as the doorbell handed to this process, which owns
        // it from here on (nothing else in the worker closes or uses it).
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Doorbell { fd })
    }

    /// The descriptor, to hand it over or register it with a reactor.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Rings: adds one to the counter, which makes the descriptor readable. Async-signal-safe
    /// (one `write`), never blocks (the descriptor is non-blocking; the counter would have to
    /// reach 2^64 - 2 to refuse), and a failure is ignored: the controller also watches the
    /// worker's pidfd and its deadline.
    pub(crate) fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own descriptor.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Reads the counter back to zero, so that the descriptor is no longer readable. Never
    /// blocks: an empty counter answers `EAGAIN`.
    #[cfg_attr(not(any(feature = "tokio", test)), allow(dead_code))]
    pub(crate) fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from our own descriptor. One read
        // empties an eventfd counter (without EFD_SEMAPHORE); its result does not matter.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for Doorbell {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::Doorbell;

    fn readable(doorbell: &Doorbell) -> bool {
        let mut fd = libc::pollfd {
            fd: doorbell.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero time-out.
        unsafe { libc::poll(&mut fd, 1, 0) == 1 }
    }

    #[test]
    fn rings_then_drains_without_blocking() {
        let doorbell = Doorbell::new().unwrap();
        assert!(!readable(&doorbell));
        doorbell.drain(); // empty: EAGAIN, not a block
        doorbell.ring();
        doorbell.ring();
        assert!(readable(&doorbell));
        doorbell.drain();
        assert!(!readable(&doorbell));
    }
}
