//! What the work ladder's calls do and what its peers report: busy work on the clock, and the
//! wait statistics in the few counters the section prints (with the CPU time, as words a
//! reply carries).
//!
//! Busy work spins on the monotonic clock (`Instant`) until W µs have passed since it began:
//! W µs of work take W µs on any machine, whatever the CPU's speed, and keep the CPU busy
//! the whole time, as a computing worker does. It overshoots by one read of the clock
//! (tens of nanoseconds); [`calibration`] measures it.

use std::time::{Duration, Instant};

use tandem::channel::WaitStats;

/// Keeps this CPU busy until `ns` nanoseconds have passed since `start`.
pub fn busy_until(start: Instant, ns: u64) {
    if ns == 0 {
        return;
    }
    let end = start + Duration::from_nanos(ns);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// Keeps this CPU busy for `ns` nanoseconds.
pub fn busy(ns: u64) {
    busy_until(Instant::now(), ns);
}

/// The p50 duration in nanoseconds of `busy(ns)` in this process, over `runs` runs.
pub fn calibration(ns: u64, runs: usize) -> f64 {
    let mut times: Vec<u64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            busy(ns);
            start.elapsed().as_nanos() as u64
        })
        .collect();
    times.sort_unstable();
    crate::report::quantile(&times, 0.5)
}

/// The counters of one side's [`WaitStats`] the work ladder reports: how the waits ended
/// and how often the side slept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waits {
    pub waits: u64,
    pub at_once: u64,
    pub spinning: u64,
    pub after_sleeping: u64,
    pub sleeps: u64,
}

/// How many words [`Waits::to_words`] writes.
pub const WAIT_WORDS: usize = 5;

impl Waits {
    /// The counters, read from tandem's statistics. The only place that names `WaitStats`'
    /// fields: a counter added to it is reported by adding it here (and to the struct).
    pub fn of(stats: &WaitStats) -> Waits {
        Waits {
            waits: stats.waits,
            at_once: stats.answered_at_once,
            spinning: stats.answered_while_spinning,
            after_sleeping: stats.answered_after_sleeping,
            sleeps: stats.sleeps,
        }
    }

    pub fn to_words(self) -> [u64; WAIT_WORDS] {
        [
            self.waits,
            self.at_once,
            self.spinning,
            self.after_sleeping,
            self.sleeps,
        ]
    }

    pub fn from_words(words: [u64; WAIT_WORDS]) -> Waits {
        let [waits, at_once, spinning, after_sleeping, sleeps] = words;
        Waits {
            waits,
            at_once,
            spinning,
            after_sleeping,
            sleeps,
        }
    }

    /// Each counter with its name (`WaitStats`' field name), for the results files.
    pub fn named(self) -> [(&'static str, u64); WAIT_WORDS] {
        let names = [
            "waits",
            "answered_at_once",
            "answered_while_spinning",
            "answered_after_sleeping",
            "sleeps",
        ];
        let words = self.to_words();
        std::array::from_fn(|i| (names[i], words[i]))
    }

    /// The waits counted since `earlier`.
    pub fn since(self, earlier: Waits) -> Waits {
        let [a, b] = [self.to_words(), earlier.to_words()];
        Waits::from_words(std::array::from_fn(|i| a[i].saturating_sub(b[i])))
    }

    /// Both counts added.
    pub fn plus(self, other: Waits) -> Waits {
        let [a, b] = [self.to_words(), other.to_words()];
        Waits::from_words(std::array::from_fn(|i| a[i] + b[i]))
    }
}

/// The words of a worker's report: its CPU time, its counters at this request, and its
/// counters at the request before (the last call of a step: the wait that delivered this
/// report is not the step's).
pub const REPORT_WORDS: usize = 1 + 2 * WAIT_WORDS;

/// A worker's report, as written into its reply.
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    pub cpu_ns: u64,
    pub now: Waits,
    pub before: Waits,
}

impl Report {
    pub fn to_bytes(self) -> Vec<u8> {
        std::iter::once(self.cpu_ns)
            .chain(self.now.to_words())
            .chain(self.before.to_words())
            .flat_map(u64::to_ne_bytes)
            .collect()
    }

    /// Reads a report from `bytes` (`REPORT_WORDS` words), `None` if too short.
    pub fn from_bytes(bytes: &[u8]) -> Option<Report> {
        if bytes.len() < REPORT_WORDS * 8 {
            return None;
        }
        let word = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8"));
        let waits = |first: usize| Waits::from_words(std::array::from_fn(|i| word(first + i)));
        Some(Report {
            cpu_ns: word(0),
            now: waits(1),
            before: waits(1 + WAIT_WORDS),
        })
    }
}
