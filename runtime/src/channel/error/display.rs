//! How the channel's errors read: durations as people write them, exit reasons, refused
//! system calls, the worker's last stderr lines, and [`ChannelError::brief`].

use std::fmt;
use std::time::Duration;

use super::ChannelError;
use crate::monitor::signal_name;
use crate::sys::process::ExitReason;

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitReason::Exited(code) => write!(f, "exited with status {code}"),
            ExitReason::Signaled(signal) => write!(f, "was killed by {}", signal_name(signal)),
        }
    }
}

/// A duration as people read it in an error message: `250 ms`, `1.5 s`, `2 min 5 s`
/// (rounded to the millisecond; below one, to the microsecond).
pub(crate) struct Readable(pub(crate) Duration);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis == 0 {
            return write!(f, "{} µs", self.0.as_micros());
        }
        if millis < 1000 {
            return write!(f, "{millis} ms");
        }
        if millis < 60_000 {
            let text = format!("{:.3}", millis as f64 / 1000.0);
            let text = text.trim_end_matches('0').trim_end_matches('.');
            return write!(f, "{text} s");
        }
        let seconds = (millis + 500) / 1000;
        match seconds % 60 {
            0 => write!(f, "{} min", seconds / 60),
            rest => write!(f, "{} min {rest} s", seconds / 60),
        }
    }
}

pub(super) struct ExitDisplay<'a>(pub(super) &'a Option<ExitReason>);

impl fmt::Display for ExitDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(reason) => reason.fmt(f),
            None => f.write_str("ended (status unknown: not a child of this process)"),
        }
    }
}

/// A system call a worker's sandbox refused, as
/// [`ChannelError::SandboxViolation`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syscall {
    /// Its Linux name (e.g. `"openat"`), `"unknown"` if tandem's table lacks it.
    pub name: &'static str,
    /// Its number on the worker's architecture, -1 if not known.
    pub number: i64,
    /// Its six argument registers (a path or a buffer shows as an address).
    pub args: [u64; 6],
}

impl Syscall {
    /// A call the worker was killed for without a record of which one.
    pub(crate) const UNKNOWN: Syscall = Syscall {
        name: "unknown",
        number: -1,
        args: [0; 6],
    };
}

impl fmt::Display for Syscall {
    /// `` `socket` (number 41, arguments [0x2, 0x1, 0x0, ...]) ``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.number < 0 {
            return f.write_str(
                "a system call it left unreported (it had blocked SIGSYS, or the signal came \
                 from outside)",
            );
        }
        write!(f, "`{}` (number {}, arguments [", self.name, self.number)?;
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{arg:#x}")?;
        }
        f.write_str("])")
    }
}

/// A `/proc` field that may be missing.
pub(super) struct Field<'a>(pub(super) &'a Option<u32>);

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => write!(f, "{value}"),
            None => f.write_str("absent"),
        }
    }
}

pub(super) struct StderrTail<'a>(pub(super) &'a Option<String>);

impl ChannelError {
    /// The message without a crash's backtrace, which `Display` appends to
    /// [`WorkerCrashed`](Self::WorkerCrashed) (and resolves on first use): for logs and
    /// counters that keep many errors, and for a broken channel, which remembers this so
    /// that marking it broken never unwinds or symbolizes anything. Other variants read as
    /// their `Display`.
    ///
    /// # Examples
    /// ```
    /// use tandem::{ChannelError, channel::TransitionLabel};
    ///
    /// let failed = ChannelError::WorkerFailed {
    ///     transition: TransitionLabel { kind: 2, name: Some("event"), id: 7 },
    ///     message: "no vertex".into(),
    /// };
    /// assert_eq!(failed.brief(), failed.to_string());
    /// ```
    pub fn brief(&self) -> String {
        match self {
            ChannelError::WorkerCrashed {
                pid,
                signal,
                transition,
                while_idle,
                ..
            } => format!(
                "worker {pid} crashed with {} {} transition {transition}",
                signal_name(*signal),
                if *while_idle {
                    "between transitions, before"
                } else {
                    "during"
                }
            ),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for StderrTail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(tail) if !tail.is_empty() => write!(f, "; last stderr lines:\n{tail}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Readable;

    #[test]
    fn durations_read_like_people_write_them() {
        let cases = [
            (Duration::from_nanos(1_500_125_294), "1.5 s"),
            (Duration::from_millis(250), "250 ms"),
            (Duration::from_micros(250_400), "250 ms"),
            (Duration::from_micros(37), "37 µs"),
            (Duration::ZERO, "0 µs"),
            (Duration::from_millis(1_234), "1.234 s"),
            (Duration::from_secs(2), "2 s"),
            (Duration::from_secs(60), "1 min"),
            (Duration::from_millis(125_400), "2 min 5 s"),
        ];
        for (duration, text) in cases {
            assert_eq!(Readable(duration).to_string(), text, "{duration:?}");
        }
    }
}
