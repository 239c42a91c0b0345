//! Channels: the transition protocol between a [`ControllerChannel`] and a [`WorkerChannel`].
//!
//! # Protocol
//! Each channel is one control segment (`<token>.ctl`, see the `control` submodule) and two buffers
//! (`<token>.c2w.{0,1}` written by the controller, `<token>.w2c.{0,1}` written by the
//! worker). The token is `/tandem-<base>-<controller pid>-<channel id>-<64 random bits>`:
//! unique per process and channel, and not guessable by another user.
//!
//! A transition is one request/reply round:
//! 1. the controller writes its buffer, the kind and the id, then posts the next sequence
//!    number in `request`;
//! 2. the worker wakes, runs the transition, writes its buffer, the keep flag and the
//!    outcome, replaces the id by its bitwise complement, then posts the same sequence number
//!    in `reply`;
//! 3. the controller wakes and accepts the reply only if the sequence matches *and* the id
//!    is the complement of the one it sent, so a stale or spurious wake-up is never taken for
//!    completion.
//!
//! Setup is the same round with the reserved kind `SETUP_KIND` and id `u64::MAX`, posted
//! before the worker starts; the worker answers it with `setup_done` (or refuses it when the
//! protocol fingerprints differ).
//!
//! Every controller wait is bounded by its time-out. A dead peer is noticed without
//! waiting for it: a death watcher asleep on the peer's pidfd sets the `PEER_GONE` bit of
//! the word the other side waits on and wakes it; a worker's fatal-signal handler sets it
//! itself before it dies, with the signal recorded beside it.

//!
//! Settings that concern both sides ([`ChannelConfig`]) travel in the control block's
//! configuration section, written once by the controller before it publishes the block and
//! read once by the worker when it opens it.

mod config;
mod control;
mod controller;
mod error;
mod wait;
mod worker;

use std::time::Duration;

pub use config::ChannelConfig;
pub use controller::{ControllerChannel, Reply};
pub use error::{ChannelError, TransitionLabel};
pub use wait::WaitStats;
pub use worker::{TransitionRequest, WorkerChannel, CONTROLLER_GONE_EXIT_STATUS};

pub use crate::sys::process::ExitReason;

/// Removes the segments that crashed tandem jobs of this user left in `/dev/shm`: those
/// whose name follows tandem's pattern (`tandem-<base>-<pid>-<id>-<16 hex digits>.<part>`),
/// whose owner is this user, and whose controller pid no longer exists. Returns the names
/// removed.
///
/// A controller that dies cleanly or by a signal its worker survives leaves nothing behind
/// (the worker removes the channel's segments); only when both processes are killed at once
/// do segments remain. Call this at the start of a job. Do not call it when `/dev/shm` is
/// shared with processes of another pid namespace (containers): their live controllers'
/// pids are invisible from here and would look dead.
///
/// # Errors
/// [`ChannelError::Os`] if `/dev/shm` cannot be listed.
pub fn remove_stale_segments() -> Result<Vec<String>, ChannelError> {
    use std::os::unix::fs::MetadataExt;

    let entries = std::fs::read_dir("/dev/shm").map_err(|source| ChannelError::Os {
        operation: "listing /dev/shm",
        source,
    })?;
    let uid = crate::sys::process::effective_uid();
    let mut removed = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = controller_pid_of(&name) else {
            continue;
        };
        let owned = entry.metadata().is_ok_and(|m| m.uid() == uid);
        if owned
            && !crate::sys::process::exists(pid)
            && crate::sys::shm::unlink(&format!("/{name}")).is_ok()
        {
            removed.push(name);
        }
    }
    Ok(removed)
}

/// The controller pid in a segment name of tandem's pattern, or `None` for other names.
fn controller_pid_of(name: &str) -> Option<i32> {
    let (stem, part) = name.strip_prefix("tandem-")?.split_once('.')?;
    if !matches!(part, "ctl" | "c2w.0" | "c2w.1" | "w2c.0" | "w2c.1") {
        return None;
    }
    let mut fields = stem.rsplitn(4, '-');
    let random = fields.next()?;
    let id = fields.next()?;
    let pid = fields.next()?;
    let base = fields.next()?;
    let valid = random.len() == 16
        && random.bytes().all(|b| b.is_ascii_hexdigit())
        && id.bytes().all(|b| b.is_ascii_digit())
        && !base.is_empty();
    if !valid {
        return None;
    }
    pid.parse().ok().filter(|&pid| pid > 0)
}

#[cfg(test)]
mod tests {
    use super::controller_pid_of;

    #[test]
    fn stale_names_are_recognised_strictly() {
        assert_eq!(
            controller_pid_of("tandem-gen-run-4123-7-0123456789abcdef.ctl"),
            Some(4123)
        );
        assert_eq!(
            controller_pid_of("tandem-gen-4123-7-0123456789abcdef.w2c.1"),
            Some(4123)
        );
        assert_eq!(
            controller_pid_of("tandem-gen-4123-7-0123456789abcdef.other"),
            None
        );
        assert_eq!(controller_pid_of("tandem-gen-4123-7-0123.ctl"), None);
        assert_eq!(
            controller_pid_of("tandem-4123-7-0123456789abcdef.ctl"),
            None
        );
        assert_eq!(
            controller_pid_of("other-gen-4123-7-0123456789abcdef.ctl"),
            None
        );
        assert_eq!(
            controller_pid_of("tandem-gen-0-7-0123456789abcdef.ctl"),
            None
        );
    }
}

/// Transition kind reserved for the setup handshake.
pub(crate) const SETUP_KIND: u32 = u32::MAX;

/// Environment variable through which a spawned worker learns its channel token.
pub const CHANNEL_ENV: &str = "TANDEM_CHANNEL";

/// Settings of a channel and of the worker process behind it. Build with the setters; the
/// settings that concern both sides (spin budget, buffer limit) reach the worker through the
/// control block, so the worker needs no options of its own.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use tandem::Options;
///
/// // A generator that takes a minute to initialise, then milliseconds per event.
/// let options = Options::default()
///     .setup_timeout(Duration::from_secs(120))
///     .transition_timeout(Duration::from_secs(5))
///     .max_buffer_bytes(256 << 20) // no event is larger than 256 MiB
///     .spin(Duration::from_micros(20))
///     .stderr_tail_lines(50);
/// assert_eq!(options.get_transition_timeout(), Duration::from_secs(5));
/// assert_eq!(options.get_max_buffer_bytes(), 256 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) setup_timeout: Duration,
    pub(crate) transition_timeout: Duration,
    pub(crate) max_buffer_bytes: usize,
    pub(crate) spin: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) protocol_fingerprint: u64,
    pub(crate) stderr_tail_lines: usize,
    pub(crate) capture_stderr: bool,
    pub(crate) own_process_group: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            setup_timeout: Duration::from_secs(30),
            transition_timeout: Duration::from_secs(60),
            max_buffer_bytes: 1 << 30,
            spin: wait::default_spin(),
            shutdown_grace: Duration::from_secs(1),
            protocol_fingerprint: 0,
            stderr_tail_lines: 20,
            capture_stderr: true,
            own_process_group: false,
        }
    }
}

impl Options {
    /// How long `setup_worker` waits for the worker's `setup_done`. Default 30 s.
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.setup_timeout = timeout;
        self
    }

    /// How long a transition waits for the worker's reply. Default 60 s.
    pub fn transition_timeout(mut self, timeout: Duration) -> Self {
        self.transition_timeout = timeout;
        self
    }

    /// Largest message either side may write; larger ones fail with
    /// [`BufferError::TooLarge`](crate::BufferError::TooLarge) before anything is allocated.
    /// The worker reads this limit from the control block. Default 1 GiB; at most
    /// `isize::MAX`, or [`ControllerChannel::create`] fails with
    /// [`ChannelError::InvalidConfig`].
    pub fn max_buffer_bytes(mut self, bytes: usize) -> Self {
        self.max_buffer_bytes = bytes;
        self
    }

    /// How long a waiting side (the controller, and the worker too: it reads this setting
    /// from the control block) spins on the shared word before it sleeps. Default 50 µs on
    /// machines with more than one CPU, zero otherwise; at most 1 s, or
    /// [`ControllerChannel::create`] fails with [`ChannelError::InvalidConfig`]. Zero never
    /// spins; [`WaitStats`] shows whether spinning pays.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// How long dropping a [`Controller`](crate::Controller) waits for its worker to exit
    /// after the stop request before it kills it. Default 1 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Protocol fingerprint checked at the handshake; the typed layer sets it from the
    /// transition and payload definitions. Default 0 (untyped).
    pub fn protocol_fingerprint(mut self, fingerprint: u64) -> Self {
        self.protocol_fingerprint = fingerprint;
        self
    }

    /// Whether a spawned worker starts in a process group of its own (default: no, it
    /// shares the controller's). A terminal sends Ctrl-C to its foreground process group:
    /// with a group of its own the worker does not get it, and the controller decides when
    /// and how to stop it (a [`Pool`](crate::Pool) sets this).
    pub fn own_process_group(mut self, own: bool) -> Self {
        self.own_process_group = own;
        self
    }

    /// Whether a spawned worker's stderr is piped through the controller, which keeps its
    /// last lines for error reports (default), or inherited untouched.
    pub fn capture_stderr(mut self, capture: bool) -> Self {
        self.capture_stderr = capture;
        self
    }

    /// How many of the worker's last stderr lines an error report carries. Default 20.
    pub fn stderr_tail_lines(mut self, lines: usize) -> Self {
        self.stderr_tail_lines = lines;
        self
    }

    /// The configured setup time-out.
    pub fn get_setup_timeout(&self) -> Duration {
        self.setup_timeout
    }

    /// The configured transition time-out.
    pub fn get_transition_timeout(&self) -> Duration {
        self.transition_timeout
    }

    /// The configured spin budget.
    pub fn get_spin(&self) -> Duration {
        self.spin
    }

    /// The configured message size limit.
    pub fn get_max_buffer_bytes(&self) -> usize {
        self.max_buffer_bytes
    }
}
