//! The hot path: publishing a word and waiting for the peer's word to change.
//!
//! # No lost wake-up
//! A poster stores the word, then wakes the futex only if the waiter announced that it
//! sleeps; a waiter announces it (its "sleeping" flag), then looks at the word once more
//! before it blocks in `FUTEX_WAIT`. Both sides use `SeqCst` for "store mine, then load
//! theirs", so at least one of them sees the other's store: either the waiter sees the new
//! word and does not block, or the poster sees the flag and wakes it. A wake-up that brings
//! nothing new only makes the waiter look again; it never counts as completion. Everything
//! else below (spinning, napping, the hints in the control block) decides only *how long*
//! a waiter looks before it announces sleep, never whether a post wakes it.
//!
//! # How long to spin, and when to nap
//! Spinning on the shared word answers in ≈ 0.2 µs; a sleep costs the wake-up of the
//! waiter, from the peer's post to the waiter running again: from 2 µs to milliseconds on a
//! virtual machine, ≈ 50–110 µs on average (see `docs/wait-path.md`). Spinning for longer
//! than a wake-up costs only burns CPU. Each waiter therefore learns two costs on its own
//! machine, at run time, and the duration of its calls:
//! - the cost of a wake-up: a post that finds the peer asleep stamps the time
//!   (`CLOCK_MONOTONIC`) into the peer's `*_woken_at` word just before `FUTEX_WAKE`, and the
//!   woken waiter measures from it to the moment it runs again;
//! - how late a nap ends: from a timed `FUTEX_WAIT`'s time-out to the waiter running again
//!   (the timer's slack, 50 µs by default, and the wake-up of the waiter's CPU);
//! - how long its last [`policy::WINDOW`] calls took, from the start of the wait to the
//!   answer (to the post's stamp when the answer woke it, so a sleep does not lengthen it).
//!
//! From these a wait chooses (see `policy`): while nothing says the answer is far off (the
//! shortest of the recent calls), it spins for at most the *spin budget*: the measured cost
//! of a wake-up, and at least the shortest call a nap can cover, within the configured
//! ceiling ([`Options::spin`](crate::Options::spin)); then it sleeps without a time-out. A
//! call shorter than the budget is thus answered while spinning, and a longer one costs at
//! most the budget in spinning plus one wake-up: at most twice what the best choice made
//! with hindsight would have cost (competitive spinning). When the recent calls say the
//! answer is at least a nap away, the waiter *naps*: it sleeps with a time-out that ends a
//! nap's measured lateness and a margin before the answer is due, then spins. Long calls are
//! thus answered while spinning too, for a few microseconds of CPU each. A nap is a real
//! sleep: an answer that comes earlier wakes it like any other. Calls beyond
//! [`policy::NAP_HORIZON`] sleep without a time-out at once.
//!
//! Because every wait measures its call, whatever happened, the policy adapts both ways
//! within [`policy::WINDOW`] calls: one short call after a run of long ones brings spinning
//! back (the prediction is the *shortest* recent call), and no run of sleeps shrinks the
//! spin budget (it follows the wake-up's cost, not the spins' success). Before the first
//! measurement a wait spins for the ceiling.
//!
//! # Bounds
//! Per wait, with `B` the spin budget (≤ the ceiling, 200 µs by default) and `C` the cost of
//! a wake-up:
//! - latency added to the call: ≈ 0.1 µs when answered while spinning; otherwise one
//!   wake-up, `C` (a call longer than `B` that no nap planned, the first short call after
//!   long ones, whose nap the answer cuts short, a nap that ends late);
//! - CPU burnt: at most `B` spinning, plus the look at the machine (below) and, for a nap,
//!   one system call and two context switches; for a nap that ends on time, the spin is its
//!   margin and the variation of its lateness, a few microseconds.
//!
//! # When not to spin at all
//! Spinning pays only while the peer runs on another CPU, so a waiter spins (or naps) only
//! when all of these hold at that wait:
//! - the two processes together may run on more than one CPU: each side publishes its
//!   affinity mask in the control block, and the union of both masks counts (a controller
//!   pinned to one CPU still spins for a worker that runs on another);
//! - the peer is not on this waiter's CPU: each side publishes the CPU it runs on (its
//!   "running" word, 1 + the CPU) when it starts waiting, and clears it (0) just before it
//!   sleeps or naps; a peer last seen on our CPU can only answer once we leave it;
//! - the machine is not overcommitted: more runnable tasks than online CPUs
//!   (`/proc/loadavg`) means spinners would take turns with their peers on the same CPUs
//!   and some channels would starve, so everybody sleeps instead and shares fairly.
//!
//! The masks and the load are looked at again every [`machine::LOOK_PERIOD`], by each waiter
//! for itself, with no file opened: one `sched_getaffinity` and one `pread` of
//! `/proc/loadavg` on a descriptor opened once per process (about 1 µs together); the CPUs
//! are counted once per process. Pinning changed with `taskset -p` while a channel runs takes
//! effect. The masks, running words and stamps are hints, written and read `Relaxed`. A
//! configured ceiling of zero skips all of this: no look, no running word, no spin, no nap.
//!
//! # A peer that wakes without answering
//! A worker that calls `FUTEX_WAKE` on the reply word in a loop (hung or hostile) cannot keep
//! its controller busy: after a few such wake-ups per millisecond the waiter sleeps out the
//! millisecond in `nanosleep`, which no futex wake-up cuts short (see `storm`). It still sees
//! its answer, its peer's death (the `PEER_GONE` bit is in the same word) and its time-out at
//! most a millisecond late. A peer that writes false stamps can only make this side's spin
//! budget anything up to the ceiling: stamps outside the sleep are ignored.
//!
//! # Kernel
//! `FUTEX_WAIT` with a relative time-out and `FUTEX_WAKE` on a shared mapping (2.6.0),
//! `getcpu` (2.6.19, through the vDSO), `sched_getaffinity`, `CLOCK_MONOTONIC` and the
//! runnable count of `/proc/loadavg`: Linux 2.6.19 or newer, far below what the channel's
//! memfds and pidfds need. Both processes must share `CLOCK_MONOTONIC` (one time namespace)
//! for stamps to count; otherwise they are ignored and wake-ups are not measured.
//!
//! Each side counts how its waits went in a [`WaitStats`] of its own, in private memory: the
//! counters cost a few increments per wait and no shared-memory traffic.

mod machine;
mod policy;
mod stats;
mod storm;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sys::doorbell::Doorbell;
use crate::sys::futex::{self, WaitOutcome};
use crate::sys::sched::{self, MASK_WORDS};
pub(crate) use machine::publish_affinity;
use machine::Machine;
use policy::{Plan, Policy};
pub use stats::WaitStats;
use storm::StormGuard;

/// `*_sleeping`: the side sleeps in `FUTEX_WAIT` on its word.
pub(crate) const SLEEPING: u32 = 1;
/// `controller_sleeping`: the controller waits in an event loop for the doorbell.
pub(crate) const PARKED_ASYNC: u32 = 2;

/// The largest spin budget a channel accepts: a waiter burning a CPU for longer than this
/// only steals time from the peer it waits for.
pub(crate) const MAX_SPIN: Duration = Duration::from_secs(1);

/// The ceiling of a spin unless configured otherwise: above the cost of a wake-up on common
/// machines (≈ 50–110 µs on the 2-CPU virtual machine of the benchmarks), which is what a
/// spin lasts at most once measured.
pub(crate) const DEFAULT_SPIN: Duration = Duration::from_micros(200);

/// Spin ceiling that makes sense on this machine: none when it has only one CPU online,
/// since spinning would then only delay the peer we are waiting for. The caller's own
/// affinity mask does not count: its peer may run elsewhere (each wait decides that).
pub(crate) fn default_spin() -> Duration {
    if sched::online_cpus() > 1 {
        DEFAULT_SPIN
    } else {
        Duration::ZERO
    }
}

/// The words one side of a channel waits and posts with, in the control block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Side<'a> {
    /// This side's "asleep in `FUTEX_WAIT`" flag, which the peer's post reads.
    pub(crate) sleeping: &'a AtomicU32,
    /// When the peer's post last woke this side (`CLOCK_MONOTONIC` ns), written by the peer.
    pub(crate) woken_at: &'a AtomicU64,
    /// This side's running word: 1 + its CPU, 0 while asleep.
    pub(crate) running: &'a AtomicU32,
    /// The peer's sleeping flag, which this side's post reads.
    pub(crate) peer_sleeping: &'a AtomicU32,
    /// The peer's `woken_at`, which this side's post stamps.
    pub(crate) peer_woken_at: &'a AtomicU64,
    /// The peer's running word.
    pub(crate) peer_running: &'a AtomicU32,
    /// The CPUs this side may run on.
    pub(crate) cpus: &'a [AtomicU64; MASK_WORDS],
    /// The CPUs the peer may run on (all zero until it published them).
    pub(crate) peer_cpus: &'a [AtomicU64; MASK_WORDS],
}

/// The running word of a side on `cpu`; [`UNKNOWN_CPU`] where the kernel cannot say.
fn running_mark(cpu: Option<u32>) -> u32 {
    cpu.and_then(|cpu| cpu.checked_add(1))
        .unwrap_or(UNKNOWN_CPU)
}

/// Running word of a side running on a CPU it cannot name: never equal to ours.
const UNKNOWN_CPU: u32 = u32::MAX;

/// Whether the peer was last seen running on `here`, this waiter's CPU.
fn peer_here(side: Side<'_>, here: u32) -> bool {
    here != UNKNOWN_CPU && side.peer_running.load(Ordering::Relaxed) == here
}

/// One side's way of waiting: what it learnt of its calls and its machine, and its counters.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    policy: Policy,
    machine: Machine,
    stats: WaitStats,
}

/// How a nap ended.
enum NapEnd {
    /// The answer came (or was there when the nap ended).
    Answered(u32),
    /// The nap ran its course without the answer: spin now.
    Over,
    /// The wait's deadline passed.
    Deadline,
}

impl Waiter {
    /// A waiter whose spins last at most `max_spin` (zero: it never spins nor naps).
    pub(crate) fn new(max_spin: Duration) -> Self {
        // Counts the CPUs and opens /proc/loadavg now, so that no wait opens a file.
        sched::prepare();
        let ceiling = u64::try_from(max_spin.as_nanos()).unwrap_or(u64::MAX);
        Waiter {
            policy: Policy::new(ceiling),
            machine: Machine::default(),
            stats: WaitStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> WaitStats {
        WaitStats {
            wake_up: Duration::from_nanos(self.policy.wake_up().unwrap_or(0)),
            nap_oversleep: Duration::from_nanos(self.policy.oversleep().unwrap_or(0)),
            ..self.stats
        }
    }

    /// Counts a wake-up sent by [`post`] (or by the control block's `complete`).
    pub(crate) fn count_post(&mut self, woke: bool) {
        self.stats.wakes_sent += u64::from(woke);
    }

    /// [`post`], counted.
    pub(crate) fn post(&mut self, word: &AtomicU32, side: Side<'_>, value: u32) {
        let woke = post(word, side, value);
        self.count_post(woke);
    }

    /// Waits until `done(word)` holds: spinning, napping then spinning, or sleeping, as the
    /// module docs explain. Returns the word's value, or `None` if `deadline` passed first.
    pub(crate) fn wait_for(
        &mut self,
        word: &AtomicU32,
        side: Side<'_>,
        deadline: Option<Instant>,
        done: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        self.stats.waits += 1;
        let value = word.load(Ordering::Acquire);
        if done(value) {
            self.stats.answered_at_once += 1;
            return Some(value);
        }
        // A zero ceiling means "never spin": nothing below is looked at, published or learnt.
        if self.policy.never_spins() {
            return self.sleep(word, side, deadline, &done, None);
        }
        let start = sched::monotonic_nanos();
        let mut here = running_mark(sched::current_cpu());
        if side.running.load(Ordering::Relaxed) != here {
            side.running.store(here, Ordering::Relaxed);
        }
        self.machine.look_if_due(start, side);
        let plan = if self.machine.shared_cpus <= 1 || peer_here(side, here) {
            self.stats.spins_skipped_shared_cpu += 1;
            Plan::Sleep
        } else if self.machine.busy {
            self.stats.spins_skipped_busy += 1;
            Plan::Sleep
        } else {
            self.policy.plan()
        };
        let naps_before = self.stats.naps;
        let (spin_from, budget) = match plan {
            Plan::Sleep => (start, None),
            Plan::Spin { budget } => (start, Some(budget)),
            Plan::Nap { nap, budget } => match self.nap(word, side, start, nap, deadline, &done) {
                NapEnd::Answered(value) => return Some(value),
                NapEnd::Deadline => {
                    self.learn_call(start, sched::monotonic_nanos());
                    self.stats.timeouts += 1;
                    return None;
                }
                NapEnd::Over => {
                    here = running_mark(sched::current_cpu());
                    side.running.store(here, Ordering::Relaxed);
                    // The peer may have been woken onto this CPU meanwhile.
                    let budget = (!peer_here(side, here)).then_some(budget);
                    (sched::monotonic_nanos(), budget)
                }
            },
        };
        if let Some(budget) = budget {
            self.stats.spins += 1;
            if let Some((value, seen)) = spin(word, side, here, spin_from, budget, &done) {
                self.stats.answered_while_spinning += 1;
                if self.stats.naps != naps_before {
                    // The duration plans the next nap: read the clock.
                    self.learn_call(start, sched::monotonic_nanos());
                    self.stats.answered_after_nap += 1;
                } else {
                    // No clock read: on the fastest path it would cost more than the rest of
                    // the wait (≈ 0.2 µs after a spin on the 2-CPU VM).
                    self.learn_call(start, seen);
                }
                return Some(value);
            }
        }
        side.running.store(0, Ordering::Relaxed);
        let result = self.sleep(word, side, deadline, &done, Some(start));
        side.running
            .store(running_mark(sched::current_cpu()), Ordering::Relaxed);
        result
    }

    /// Records a call that started at `start` and whose answer was seen at `now`.
    fn learn_call(&mut self, start: u64, now: u64) {
        self.policy.record_call(now.saturating_sub(start));
    }

    /// After a sleep (`asleep_since`: when the sleeping flag was raised) that ended at `now`
    /// with the answer: learns the call's duration from the post's stamp (the answer came
    /// then, not when this side woke), and the wake-up's cost if a `FUTEX_WAKE` (`woken`)
    /// ended the sleep. A stamp outside the sleep is stale or false, and ignored.
    fn learn_sleep(
        &mut self,
        side: Side<'_>,
        start: u64,
        asleep_since: u64,
        now: u64,
        woken: bool,
    ) {
        let stamp = side.woken_at.load(Ordering::Relaxed);
        if (asleep_since..=now).contains(&stamp) {
            self.policy.record_call(stamp.saturating_sub(start));
            if woken {
                self.policy.record_wake_up(now - stamp);
            }
        } else {
            self.learn_call(start, now);
        }
    }

    /// Naps for `nap` ns from `start` (a `FUTEX_WAIT` with a time-out; an answer wakes it
    /// earlier), within `deadline`.
    fn nap(
        &mut self,
        word: &AtomicU32,
        side: Side<'_>,
        start: u64,
        nap: u64,
        deadline: Option<Instant>,
        done: &impl Fn(u32) -> bool,
    ) -> NapEnd {
        side.running.store(0, Ordering::Relaxed);
        let mut storm = StormGuard::default();
        let asleep_since = sched::monotonic_nanos();
        let nap_end = start.saturating_add(nap);
        let mut last = WaitOutcome::ValueChanged;
        let sleeps_before = self.stats.sleeps;
        side.sleeping.store(SLEEPING, Ordering::SeqCst);
        let end = loop {
            let value = word.load(Ordering::SeqCst);
            if done(value) {
                break NapEnd::Answered(value);
            }
            let now = sched::monotonic_nanos();
            if now >= nap_end {
                break NapEnd::Over;
            }
            let mut timeout = Duration::from_nanos(nap_end - now);
            if let Some(deadline) = deadline {
                match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => timeout = timeout.min(left),
                    _ => break NapEnd::Deadline,
                }
            }
            if self.stats.sleeps == sleeps_before {
                // Counted once it sleeps: an answer already there is no nap.
                self.stats.naps += 1;
            }
            self.stats.sleeps += 1;
            last = futex::wait(word, value, Some(timeout));
            if last != WaitOutcome::TimedOut && !done(word.load(Ordering::SeqCst)) {
                self.unproductive(&mut storm, deadline);
            }
        };
        side.sleeping.store(0, Ordering::SeqCst);
        let now = sched::monotonic_nanos();
        if now >= nap_end && matches!(last, WaitOutcome::TimedOut | WaitOutcome::Woken) {
            // Timed out: the nap's lateness. Woken by the answer after the time-out should
            // have ended it: the nap was at least this late (it would have run later still),
            // so a nap that keeps being cut short that way learns to end earlier.
            self.policy.record_oversleep(now - nap_end);
        }
        if let NapEnd::Answered(_) = end {
            if self.stats.sleeps == sleeps_before {
                // The answer was there before the nap began: not a nap's outcome.
            } else if last == WaitOutcome::TimedOut {
                self.stats.naps_overslept += 1;
            } else {
                self.stats.naps_cut_short += 1;
            }
            self.stats.answered_after_sleeping += 1;
            self.learn_sleep(side, start, asleep_since, now, last == WaitOutcome::Woken);
        }
        end
    }

    /// Sleeps on `word` until `done` or `deadline`, and counts how the wait ended. `start`:
    /// when the wait began, to learn from; `None` learns nothing (and reads no clock).
    fn sleep(
        &mut self,
        word: &AtomicU32,
        side: Side<'_>,
        deadline: Option<Instant>,
        done: &impl Fn(u32) -> bool,
        start: Option<u64>,
    ) -> Option<u32> {
        let mut storm = StormGuard::default();
        let asleep_since = start.map(|_| sched::monotonic_nanos());
        let mut last = WaitOutcome::ValueChanged;
        let result = loop {
            side.sleeping.store(SLEEPING, Ordering::SeqCst);
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
            self.stats.sleeps += 1;
            last = futex::wait(word, value, timeout);
            if last != WaitOutcome::TimedOut && !done(word.load(Ordering::SeqCst)) {
                self.unproductive(&mut storm, deadline);
            }
        };
        side.sleeping.store(0, Ordering::SeqCst);
        match result {
            Some(_) => self.stats.answered_after_sleeping += 1,
            None => self.stats.timeouts += 1,
        }
        if let (Some(start), Some(asleep_since)) = (start, asleep_since) {
            let now = sched::monotonic_nanos();
            match result {
                Some(_) => {
                    let woken = last == WaitOutcome::Woken;
                    self.learn_sleep(side, start, asleep_since, now, woken);
                }
                None => self.learn_call(start, now),
            }
        }
        result
    }

    /// Counts a futex return that brought neither the answer nor the time-out, and backs
    /// off (a sleep no wake-up cuts short, within `deadline`) when they come too fast.
    fn unproductive(&mut self, storm: &mut StormGuard, deadline: Option<Instant>) {
        self.stats.spurious_wakeups += 1;
        if let Some(back_off) = storm.note(sched::monotonic_nanos()) {
            self.stats.backoffs += 1;
            let mut back_off = Duration::from_nanos(back_off);
            if let Some(deadline) = deadline {
                back_off = back_off.min(deadline.saturating_duration_since(Instant::now()));
            }
            // nanosleep: a FUTEX_WAKE does not end it (a signal does, and it resumes).
            std::thread::sleep(back_off);
        }
    }
}

/// Spins on `word` from `from` for at most `budget` ns, or until the peer shows up on
/// `here` (this waiter's CPU: it can only answer once we leave it). Returns the answer and
/// when it was seen at the earliest: the clock's last reading, taken every 64 looks (an
/// under-estimate by at most that many looks, which errs on the safe side when the
/// duration plans a nap).
fn spin(
    word: &AtomicU32,
    side: Side<'_>,
    here: u32,
    from: u64,
    budget: u64,
    done: &impl Fn(u32) -> bool,
) -> Option<(u32, u64)> {
    let until = from.saturating_add(budget);
    let mut seen = from;
    loop {
        for _ in 0..64 {
            std::hint::spin_loop();
            let value = word.load(Ordering::Acquire);
            if done(value) {
                return Some((value, seen));
            }
        }
        seen = sched::monotonic_nanos();
        if peer_here(side, here) || seen >= until {
            return None;
        }
    }
}

/// Stores `value` into `word` and wakes the peer of `side` if it sleeps on it, stamping
/// the time into its `woken_at` first; returns whether it had to wake it.
pub(crate) fn post(word: &AtomicU32, side: Side<'_>, value: u32) -> bool {
    post_ringing(word, side, value, None)
}

/// As [`post`], ringing `doorbell` instead of waking the futex when the peer announced that
/// it is parked asynchronously ([`PARKED_ASYNC`]): same store, same one load of the peer's
/// sleeping word, so the no-lost-wake-up argument above holds for the doorbell too, and a
/// blocking peer costs nothing more.
pub(crate) fn post_ringing(
    word: &AtomicU32,
    side: Side<'_>,
    value: u32,
    doorbell: Option<&Doorbell>,
) -> bool {
    word.store(value, Ordering::SeqCst);
    let asleep = side.peer_sleeping.load(Ordering::SeqCst);
    if asleep == 0 {
        return false;
    }
    side.peer_woken_at
        .store(sched::monotonic_nanos(), Ordering::Relaxed);
    match doorbell {
        Some(doorbell) if asleep == PARKED_ASYNC => doorbell.ring(),
        _ => futex::wake_all(word),
    }
    true
}

/// Sets `bits` in `word` and wakes every sleeper unconditionally (used by death watchers
/// and fatal-signal handlers, which are rare and must never be missed).
pub(crate) fn raise_flag(word: &AtomicU32, bits: u32) {
    word.fetch_or(bits, Ordering::SeqCst);
    futex::wake_all(word);
}
