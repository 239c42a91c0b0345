//! [`WaitStats`]: how the waits of one end of a channel went.

use std::time::Duration;

/// How the waits of one end of a channel went, counted by that end in its own memory.
///
/// Read it with [`ControllerChannel::wait_stats`](crate::ControllerChannel::wait_stats) or
/// [`WorkerChannel::wait_stats`](crate::WorkerChannel::wait_stats) (forwarded by
/// [`Controller`](crate::Controller) and [`TypedController`](crate::TypedController)).
/// Subtract two readings to see one run of calls.
///
/// A wait that cannot find its answer at once does one of three things (the module docs of
/// the wait path explain the choice): it spins on the shared word for at most the cost of a
/// wake-up on this machine ([`wake_up`](Self::wake_up)); or, when its recent calls say the
/// answer is far off, it *naps* (a `FUTEX_WAIT` with a time-out) until shortly before the
/// answer is due and then spins; or it sleeps without a time-out. A high
/// [`spin_share`](Self::spin_share) means the answers are caught while spinning, without the
/// cost of a wake-up. The `spins_skipped_*` counters show the waits where spinning could not
/// pay at all, and why.
///
/// Every wait ends in exactly one of `answered_at_once`, `answered_while_spinning`,
/// `answered_after_sleeping` and `timeouts`, so these four add up to `waits`. Some counters
/// are parts of others: `answered_after_nap ≤ answered_while_spinning`, `naps ≤ sleeps`, and
/// `naps_cut_short + naps_overslept + answered_after_nap ≤ naps`.
///
/// # Examples
/// ```
/// use tandem::channel::WaitStats;
///
/// /// A hint for `Options::spin`, from a controller's statistics after a run.
/// fn spin_hint(stats: &WaitStats) -> &'static str {
///     if stats.waits == 0 {
///         "nothing measured yet"
///     } else if stats.spin_share() > 0.5 {
///         "spinning answers most waits: keep the budget"
///     } else if stats.backoffs > 0 {
///         "the peer woke this side without answering: a hung or broken worker?"
///     } else if stats.spins > 0 && stats.answered_after_sleeping >= stats.spins {
///         "spins end asleep anyway: the calls vary too much to predict"
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
    /// Waits answered while spinning on the shared word, right away or after a nap.
    pub answered_while_spinning: u64,
    /// Waits answered after a sleep: the answer woke the waiter (or was there when it
    /// woke), whether or not `FUTEX_WAIT` actually blocked, and whether it was a nap or a
    /// sleep without a time-out.
    pub answered_after_sleeping: u64,
    /// Waits that spun, right away or after a nap.
    pub spins: u64,
    /// Waits that did not spin because the two processes could not run at the same time:
    /// together they may use only one CPU, or the peer was last seen on this side's CPU.
    pub spins_skipped_shared_cpu: u64,
    /// Waits that did not spin because the machine had more runnable tasks than CPUs at
    /// the last look (see [`Options::spin`](crate::Options::spin)).
    pub spins_skipped_busy: u64,
    /// `FUTEX_WAIT` calls, naps included; one wait may sleep more than once (a nap and then
    /// a sleep, spurious wake-ups, signals).
    pub sleeps: u64,
    /// Naps: sleeps with a time-out planned to end shortly before the answer is due, from
    /// the durations of the recent calls, so that the answer is caught while spinning after
    /// it. Counted once per wait, however often a spurious wake-up resumed it.
    pub naps: u64,
    /// Naps that the answer itself woke, before their time-out: the call was shorter than
    /// the recent ones, and the wait paid a wake-up.
    pub naps_cut_short: u64,
    /// Naps that ran to their time-out and found the answer already there: the nap ended
    /// late, and the wait paid for part of a wake-up.
    pub naps_overslept: u64,
    /// Waits answered while spinning after a nap: the case naps are for (part of
    /// [`answered_while_spinning`](Self::answered_while_spinning)).
    pub answered_after_nap: u64,
    /// Returns from `FUTEX_WAIT` that brought neither the answer nor the time-out: a
    /// `FUTEX_WAKE` with nothing new in the word, a signal.
    pub spurious_wakeups: u64,
    /// Back-offs: when spurious wake-ups came faster than a few per millisecond (a peer that
    /// wakes this side in a loop without answering), the waiter slept out the rest of the
    /// millisecond where no wake-up reaches it, so that such a storm cannot keep it busy.
    pub backoffs: u64,
    /// `FUTEX_WAKE` calls this side made because its peer had announced it was asleep.
    pub wakes_sent: u64,
    /// Waits that reached their deadline unanswered (controller only: the worker waits
    /// without one).
    pub timeouts: u64,
    /// The cost of a wake-up as this side measured it (the mean, recent ones weighing
    /// most): from the peer's post to this side running again, when the post had to wake
    /// it. A spin lasts at most this long (and at least as long as the shortest call a nap
    /// can cover), within [`Options::spin`](crate::Options::spin). Zero until measured.
    pub wake_up: Duration,
    /// How late this side's naps end after their time-out (a high quantile, about the 90th
    /// percentile): the timer's slack and the wake-up of this side's CPU. A nap is planned to
    /// end this much (and a margin) before the answer is due. Zero until measured.
    pub nap_oversleep: Duration,
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
