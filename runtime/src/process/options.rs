//! [`ProcessOptions`]: the settings of a worker process, beside those of its channel.

use std::time::Duration;

use crate::channel::Options;

/// How a [`Controller`](crate::Controller) runs its worker process: the channel's
/// [`Options`], plus what only the process needs (its stderr, its process group, how it is
/// stopped). Every function that takes `impl Into<ProcessOptions>` takes plain channel
/// [`Options`] too, with the process defaults below.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use tandem::{Options, ProcessOptions};
///
/// let options = ProcessOptions::new(Options::default().transition_timeout(Duration::from_secs(5)))
///     .shutdown_grace(Duration::from_millis(200))
///     .stderr_tail_lines(50);
/// assert_eq!(options.channel().config().unwrap().max_buffer_bytes, 1 << 30);
/// ```
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    pub(crate) channel: Options,
    pub(crate) shutdown_grace: Duration,
    pub(crate) stderr_tail_lines: usize,
    pub(crate) capture_stderr: bool,
    pub(crate) own_process_group: bool,
}

impl ProcessOptions {
    /// The worker process of a channel with `channel`'s settings, with the process defaults:
    /// stderr captured with a tail of 20 lines, a grace of 1 s before a stopped worker is
    /// killed, the controller's process group.
    pub fn new(channel: Options) -> Self {
        ProcessOptions {
            channel,
            shutdown_grace: Duration::from_secs(1),
            stderr_tail_lines: 20,
            capture_stderr: true,
            own_process_group: false,
        }
    }

    /// The channel's settings.
    pub fn channel(&self) -> &Options {
        &self.channel
    }

    /// Replaces the channel's settings.
    pub fn with_channel(mut self, channel: Options) -> Self {
        self.channel = channel;
        self
    }

    /// How long stopping a [`Controller`](crate::Controller) (or dropping it) waits for its
    /// worker to exit after the stop request before it kills it. Default 1 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Whether the worker starts in a process group of its own (default: no, it shares the
    /// controller's). A terminal sends Ctrl-C to its foreground process group: with a group
    /// of its own the worker does not get it, and the controller decides when and how to
    /// stop it (a [`Pool`](crate::Pool) sets this).
    pub fn own_process_group(mut self, own: bool) -> Self {
        self.own_process_group = own;
        self
    }

    /// Whether the worker's stderr is piped through the controller, which keeps its last
    /// lines for error reports (default), or inherited untouched.
    pub fn capture_stderr(mut self, capture: bool) -> Self {
        self.capture_stderr = capture;
        self
    }

    /// How many of the worker's last stderr lines an error report carries. Default 20.
    pub fn stderr_tail_lines(mut self, lines: usize) -> Self {
        self.stderr_tail_lines = lines;
        self
    }
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions::new(Options::default())
    }
}

impl From<Options> for ProcessOptions {
    fn from(channel: Options) -> Self {
        ProcessOptions::new(channel)
    }
}
