//! The hot path: publishing a word and waiting for the peer's word to change.
//!
//! A waiter first spins on the shared word for a short, bounded time (a round trip between
//! two running processes costs ~100 ns this way, against ~20 µs per futex wake-up), then
//! announces that it sleeps and blocks in `FUTEX_WAIT`. A poster stores the word, then wakes
//! the futex only if the waiter announced sleep. Both sides use `SeqCst` for "store mine,
//! then load theirs", so at least one of them sees the other's store: either the waiter sees
//! the new word and does not sleep, or the poster sees the sleeping flag and wakes it. A
//! spurious wake-up only makes the waiter look again; it never counts as completion.
//!
//! Each side counts how its waits went in a [`WaitStats`] of its own, in private memory: the
//! counters cost a few increments per wait and no shared-memory traffic.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys::futex;

/// The largest spin budget a channel accepts: a waiter burning a CPU for longer than this
/// only steals time from the peer it waits for.
pub(crate) const MAX_SPIN: Duration = Duration::from_secs(1);

/// The longest a waiter spins before it sleeps, unless configured otherwise.
pub(crate) const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// Spin budget that makes sense on this machine: none when only one CPU can run us, since
/// spinning would then only delay the peer we are waiting for.
pub(crate) fn default_spin() -> Duration {
    match std::thread::available_parallelism() {
        Ok(n) if n.get() > 1 => DEFAULT_SPIN,
        _ => Duration::ZERO,
    }
}

/// How the waits of one end of a channel went, counted by that end in its own memory.
///
/// Read it with [`ControllerChannel::wait_stats`](crate::ControllerChannel::wait_stats) or
/// [`WorkerChannel::wait_stats`](crate::WorkerChannel::wait_stats) (forwarded by
/// [`Controller`](crate::Controller) and [`TypedController`](crate::TypedController)) to tune
/// [`Options::spin`](crate::Options::spin): a high [`spin_share`](Self::spin_share) means the
/// spin budget pays; many [`sleeps`](Self::sleeps) with spins that still end asleep mean the
/// work between transitions is longer than the budget, and spinning only costs CPU.
///
/// Every wait ends in exactly one of `answered_at_once`, `answered_while_spinning`,
/// `answered_after_sleeping` and `timeouts`, so these four add up to `waits`.
///
/// # Examples
/// ```
/// use tandem::WaitStats;
///
/// /// A hint for `Options::spin`, from a controller's statistics after a run.
/// fn spin_hint(stats: &WaitStats) -> &'static str {
///     if stats.waits == 0 {
///         "nothing measured yet"
///     } else if stats.spin_share() > 0.5 {
///         "spinning answers most waits: keep the budget"
///     } else if stats.spins > 0 && stats.answered_after_sleeping >= stats.spins {
///         "spins end asleep anyway: lower the budget or set it to zero"
///     } else {
///         "the answer is mostly there at once or after a sleep"
///     }
/// }
///
/// // E.g. `spin_hint(&controller.wait_stats())`; before any transition:
/// assert_eq!(spin_hint(&WaitStats::default()), "nothing measured yet");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitStats {
    /// Waits for the peer's word: one per transition (and per setup) on the controller,
    /// one per request on the worker. A controller wait that stops to start watching a
    /// worker that just announced itself counts twice.
    pub waits: u64,
    /// Waits whose answer was already there at the first look: no spin, no sleep.
    pub answered_at_once: u64,
    /// Waits answered while spinning on the shared word.
    pub answered_while_spinning: u64,
    /// Waits answered after the spin ended (or with no spin budget): in the sleeping phase,
    /// whether or not `FUTEX_WAIT` actually blocked.
    pub answered_after_sleeping: u64,
    /// Waits that started spinning (the adaptive budget was not zero at that wait).
    pub spins: u64,
    /// `FUTEX_WAIT` calls; one wait may sleep more than once (spurious wake-ups, signals).
    pub sleeps: u64,
    /// `FUTEX_WAKE` calls this side made because its peer had announced it was asleep.
    pub wakes_sent: u64,
    /// Waits that reached their deadline unanswered (controller only: the worker waits
    /// without one).
    pub timeouts: u64,
}

impl WaitStats {
    /// The share of waits answered while spinning, from 0 to 1 (0 before any wait).
    pub fn spin_share(&self) -> f64 {
        if self.waits == 0 {
            0.0
        } else {
            self.answered_while_spinning as f64 / self.waits as f64
        }
    }
}

/// One side's way of waiting: its adaptive spin budget and its counters.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    spinner: Spinner,
    stats: WaitStats,
}

impl Waiter {
    pub(crate) fn new(max_spin: Duration) -> Self {
        Waiter {
            spinner: Spinner::new(max_spin),
            stats: WaitStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> WaitStats {
        self.stats
    }

    /// Counts a wake-up sent by [`post`] (or by the control block's `complete`).
    pub(crate) fn count_post(&mut self, woke: bool) {
        self.stats.wakes_sent += u64::from(woke);
    }

    /// [`post`], counted.
    pub(crate) fn post(&mut self, word: &AtomicU32, sleeping: &AtomicU32, value: u32) {
        let woke = post(word, sleeping, value);
        self.count_post(woke);
    }

    /// Waits until `done(word)` holds, spinning for at most the spinner's budget first.
    /// Returns the word's value, or `None` if `deadline` passed first.
    pub(crate) fn wait_for(
        &mut self,
        word: &AtomicU32,
        sleeping: &AtomicU32,
        deadline: Option<Instant>,
        done: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        let stats = &mut self.stats;
        stats.waits += 1;
        let value = word.load(Ordering::Acquire);
        if done(value) {
            stats.answered_at_once += 1;
            return Some(value);
        }
        let spin = self.spinner.budget();
        if !spin.is_zero() {
            stats.spins += 1;
            let spin_start = Instant::now();
            'spin: loop {
                for _ in 0..64 {
                    std::hint::spin_loop();
                    let value = word.load(Ordering::Acquire);
                    if done(value) {
                        self.spinner.record(true);
                        stats.answered_while_spinning += 1;
                        return Some(value);
                    }
                }
                if spin_start.elapsed() >= spin {
                    break 'spin;
                }
            }
            self.spinner.record(false);
        }
        let result = loop {
            sleeping.store(1, Ordering::SeqCst);
            let value = word.load(Ordering::SeqCst);
            if done(value) {
                break Some(value);
            }
            let timeout = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => break None,
                },
            };
            stats.sleeps += 1;
            futex::wait(word, value, timeout);
        };
        sleeping.store(0, Ordering::SeqCst);
        match result {
            Some(_) => stats.answered_after_sleeping += 1,
            None => stats.timeouts += 1,
        }
        result
    }
}

/// An adaptive spin budget: spinning pays only when the peer is running and answers soon,
/// which depends on the machine's load and on the work per transition. The budget halves
/// each time a spin ends without the answer (the waiter had to sleep anyway) and doubles,
/// up to the configured maximum, each time the answer arrives while spinning. Every 64th
/// wait spins for the full budget again, so a budget that fell to zero can recover.
#[derive(Debug, Clone)]
struct Spinner {
    max: Duration,
    current: Duration,
    waits: u32,
}

impl Spinner {
    fn new(max: Duration) -> Self {
        Spinner {
            max,
            current: max,
            waits: 0,
        }
    }

    fn budget(&mut self) -> Duration {
        self.waits = self.waits.wrapping_add(1);
        if self.waits % 64 == 0 {
            self.max
        } else {
            self.current
        }
    }

    fn record(&mut self, answered_while_spinning: bool) {
        self.current = if answered_while_spinning {
            (self.current * 2 + Duration::from_micros(1)).min(self.max)
        } else {
            self.current / 2
        };
    }
}

/// Stores `value` into `word` and wakes the peer if it sleeps on it; returns whether it
/// had to.
pub(crate) fn post(word: &AtomicU32, sleeping: &AtomicU32, value: u32) -> bool {
    word.store(value, Ordering::SeqCst);
    let asleep = sleeping.load(Ordering::SeqCst) != 0;
    if asleep {
        futex::wake_all(word);
    }
    asleep
}

/// Sets `bits` in `word` and wakes every sleeper unconditionally (used by death watchers
/// and fatal-signal handlers, which are rare and must never be missed).
pub(crate) fn raise_flag(word: &AtomicU32, bits: u32) {
    word.fetch_or(bits, Ordering::SeqCst);
    futex::wake_all(word);
}
