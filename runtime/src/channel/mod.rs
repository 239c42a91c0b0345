//! Channels: the transition protocol between a [`ControllerChannel`] and a [`WorkerChannel`].
//!
//! # Protocol
//! Each channel is three memfds, created and sealed by the controller before the worker
//! exists: the control block (labelled `tandem:<base>:<id>:ctl`, see the `control`
//! submodule) and two buffers (`…:c2w` written by the controller, `…:w2c` written by the
//! worker). They have no name anywhere: the worker inherits the descriptors (and only that
//! worker, see `sys::spawn`), whose numbers travel in the token
//! (`tandem:<base>:<id>:<ctl>,<c2w>,<w2c>`, in [`CHANNEL_ENV`]). A restarted worker gets
//! three fresh memfds: a dead worker's children may still hold the old ones.
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
pub(crate) mod controller;
mod crash_hook;
mod error;
mod memory;
mod reply;
mod request;
mod token;
mod wait;
mod worker;

use std::time::Duration;

pub use config::ChannelConfig;
pub use controller::{ControllerChannel, WorkerStatus};
pub use error::{ChannelError, Syscall, TransitionLabel, UnusableReason, Violation};
pub use reply::Reply;
pub use request::TransitionRequest;
pub use wait::WaitStats;
pub use worker::{WorkerChannel, CONTROLLER_GONE_EXIT_STATUS};

pub(crate) use crate::sys::process::ExitReason;

/// Transition kind reserved for the setup handshake.
pub(crate) const SETUP_KIND: u32 = u32::MAX;

/// Environment variable through which a spawned worker learns its channel token.
pub const CHANNEL_ENV: &str = "TANDEM_CHANNEL";

/// Settings of a channel: its time-outs, its limits, and what its workers run under (the
/// sandbox, the crash capture). Build with the setters; the settings that concern both sides
/// (spin budget, buffer limit: [`ChannelConfig`]) reach the worker through the control
/// block, so the worker needs no options of its own. The settings of the worker process
/// itself (stderr capture, shutdown grace) are in [`ProcessOptions`](crate::ProcessOptions).
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
///     .spin(Duration::from_micros(20));
/// let config = options.config()?;
/// assert_eq!(config.max_buffer_bytes, 256 << 20);
/// assert_eq!(config.spin, Duration::from_micros(20));
/// # Ok::<(), tandem::ChannelError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) setup_timeout: Duration,
    pub(crate) transition_timeout: Duration,
    pub(crate) max_buffer_bytes: usize,
    pub(crate) spin: Duration,
    pub(crate) protocol_fingerprint: u64,
    pub(crate) sandbox: Option<crate::sandbox::Sandbox>,
    pub(crate) crash_capture: crate::crash::CrashCapture,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            setup_timeout: Duration::from_secs(30),
            transition_timeout: Duration::from_secs(60),
            max_buffer_bytes: 1 << 30,
            spin: wait::default_spin(),
            protocol_fingerprint: 0,
            sandbox: None,
            crash_capture: crate::crash::CrashCapture::default(),
        }
    }
}

impl Options {
    /// How long setting up a worker waits for its `setup_done`. Default 30 s.
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

    /// The longest a waiting side (the controller, and the worker too: it reads this
    /// setting from the control block) spins on the shared word before it sleeps. Default
    /// 200 µs on machines with more than one CPU online, zero otherwise; at most 1 s, or
    /// [`ControllerChannel::create`] fails with [`ChannelError::InvalidConfig`]. Zero never
    /// spins (nor naps).
    ///
    /// A ceiling, not a promise: each wait spins only if the two processes together may
    /// run on more than one CPU (the union of both affinity masks, so a controller pinned to
    /// one CPU still spins for a worker pinned to another), the peer was not last seen on
    /// the waiter's own CPU, and the machine had no more runnable tasks than CPUs at its
    /// last look (every 2 ms; otherwise all channels sleep and share the CPUs fairly). It
    /// then spins for about the cost of a wake-up as measured on this machine, or naps
    /// first when its recent calls say the answer is far off. [`WaitStats`] shows how the
    /// waits went and the costs measured.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Protocol fingerprint checked at the handshake; the typed layer sets it from the
    /// transition and payload definitions. Default 0 (untyped).
    pub fn protocol_fingerprint(mut self, fingerprint: u64) -> Self {
        self.protocol_fingerprint = fingerprint;
        self
    }

    /// Runs every worker of the channel in `sandbox` (see [`Sandbox`](crate::Sandbox)):
    /// confined at spawn, filtered after setup, and verified from outside before the first
    /// transition. Default: no sandbox.
    pub fn sandbox(mut self, sandbox: crate::sandbox::Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// How a crashing worker of the channel captures its faulting thread for the crash
    /// report's backtrace (see [`CrashCapture`](crate::crash::CrashCapture)); every
    /// restarted worker too. Default: enabled, with 64 KiB of stack.
    pub fn crash_capture(mut self, capture: crate::crash::CrashCapture) -> Self {
        self.crash_capture = capture;
        self
    }

    /// The settings these options share with the worker, checked as
    /// [`ControllerChannel::create`] checks them.
    ///
    /// # Errors
    /// [`ChannelError::InvalidConfig`] for an out-of-range spin budget or buffer limit.
    pub fn config(&self) -> Result<ChannelConfig, ChannelError> {
        ChannelConfig::from_options(self)
    }
}
