//! The hot path: publishing a word and waiting for the peer's word to change.
//!
//! A waiter first spins on the shared word for a short, bounded time (a round trip between
//! two running processes costs ~200 ns this way, against ~10 µs per futex wake-up), then
//! announces that it sleeps and blocks in `FUTEX_WAIT`. A poster stores the word, then wakes
//! the futex only if the waiter announced sleep. Both sides use `SeqCst` for "store mine,
//! then load theirs", so at least one of them sees the other's store: either the waiter sees
//! the new word and does not sleep, or the poster sees the sleeping flag and wakes it. A
//! spurious wake-up only makes the waiter look again; it never counts as completion.
//!
//! Spinning pays only while the peer runs on another CPU and answers soon, so a waiter
//! spins only when all of these hold at that wait:
//! - the two processes together may run on more than one CPU: each side publishes its
//!   affinity mask in the control block, and the union of both masks counts (a controller
//!   pinned to one CPU still spins for a worker that runs on another);
//! - the peer is not on this waiter's CPU: each side publishes the CPU it runs on (its
//!   "running" word, 1 + the CPU) when it starts waiting, and clears it (0) just before it
//!   sleeps; a peer last seen on our CPU can only answer once we leave it;
//! - the machine is not overcommitted: more runnable tasks than online CPUs
//!   (`/proc/loadavg`) means spinners would take turns with their peers on the same CPUs
//!   and some channels would starve, so everybody sleeps instead and shares fairly;
//! - spinning has been paying: the adaptive budget of [`Spinner`].
//!
//! The masks and the load are looked at again every [`LOOK_PERIOD`], by each waiter for
//! itself (a few microseconds per look), so pinning changed with `taskset -p` while a
//! channel runs takes effect. The masks and running words are hints, written and read
//! `Relaxed`: they decide only whether to spin, never whether to sleep or to wake, so the
//! argument above against lost wake-ups does not depend on them. A configured budget of
//! zero skips all of this: no look, no running word, no spin.
//!
//! Each side counts how its waits went in a [`WaitStats`] of its own, in private memory: the
//! counters cost a few increments per wait and no shared-memory traffic.

use std::io::Read;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sys::futex;
use crate::sys::sched::{self, MASK_WORDS};

/// The largest spin budget a channel accepts: a waiter burning a CPU for longer than this
/// only steals time from the peer it waits for.
pub(crate) const MAX_SPIN: Duration = Duration::from_secs(1);

/// The longest a waiter spins before it sleeps, unless configured otherwise.
pub(crate) const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// How often a waiter looks again at the CPU masks and the machine's load.
pub(crate) const LOOK_PERIOD: Duration = Duration::from_millis(2);

/// Spin budget that makes sense on this machine: none when it has only one CPU online,
/// since spinning would then only delay the peer we are waiting for. The caller's own
/// affinity mask does not count: its peer may run elsewhere (each wait decides that).
pub(crate) fn default_spin() -> Duration {
    if sched::online_cpus() > 1 {
        DEFAULT_SPIN
    } else {
        Duration::ZERO
    }
}

/// The words one side of a channel waits with, in the control block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Side<'a> {
    /// This side's "asleep in `FUTEX_WAIT`" flag, which the peer's post reads.
    pub(crate) sleeping: &'a AtomicU32,
    /// This side's running word: 1 + its CPU, 0 while asleep.
    pub(crate) running: &'a AtomicU32,
    /// The peer's running word.
    pub(crate) peer_running: &'a AtomicU32,
    /// The CPUs this side may run on.
    pub(crate) cpus: &'a [AtomicU64; MASK_WORDS],
    /// The CPUs the peer may run on (all zero until it published them).
    pub(crate) peer_cpus: &'a [AtomicU64; MASK_WORDS],
}

/// Publishes the calling thread's affinity mask in `cpus`; returns it (`None`: more CPUs
/// than a mask holds).
pub(crate) fn publish_affinity(cpus: &[AtomicU64; MASK_WORDS]) -> Option<[u64; MASK_WORDS]> {
    let mask = sched::affinity();
    // A mask too large to hold is published as "every CPU".
    let words = mask.unwrap_or([u64::MAX; MASK_WORDS]);
    for (slot, word) in cpus.iter().zip(words) {
        if slot.load(Ordering::Relaxed) != word {
            slot.store(word, Ordering::Relaxed);
        }
    }
    mask
}

/// The running word of a side on `cpu`; [`UNKNOWN_CPU`] where the kernel cannot say.
fn running_mark(cpu: Option<u32>) -> u32 {
    cpu.and_then(|cpu| cpu.checked_add(1))
        .unwrap_or(UNKNOWN_CPU)
}

/// Running word of a side running on a CPU it cannot name: never equal to ours.
const UNKNOWN_CPU: u32 = u32::MAX;

/// How the waits of one end of a channel went, counted by that end in its own memory.
///
/// Read it with [`ControllerChannel::wait_stats`](crate::ControllerChannel::wait_stats) or
/// [`WorkerChannel::wait_stats`](crate::WorkerChannel::wait_stats) (forwarded by
/// [`Controller`](crate::Controller) and [`TypedController`](crate::TypedController)) to tune
/// [`Options::spin`](crate::Options::spin): a high [`spin_share`](Self::spin_share) means the
/// spin budget pays; many [`sleeps`](Self::sleeps) with spins that still end asleep mean the
/// work between transitions is longer than the budget, and spinning only costs CPU. The
/// `spins_skipped_*` counters show the waits where spinning could not pay at all, and why.
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
    /// Waits that did not spin because the two processes could not run at the same time:
    /// together they may use only one CPU, or the peer was last seen on this side's CPU.
    pub spins_skipped_shared_cpu: u64,
    /// Waits that did not spin because the machine had more runnable tasks than CPUs at
    /// the last look (see [`Options::spin`](crate::Options::spin)).
    pub spins_skipped_busy: u64,
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

/// One side's way of waiting: its adaptive spin budget, its view of the machine and its
/// counters.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    spinner: Spinner,
    machine: Machine,
    stats: WaitStats,
}

/// Why a wait does not spin, or for how long it does.
enum Plan {
    Spin(Duration),
    SharedCpu,
    Busy,
}

impl Waiter {
    pub(crate) fn new(max_spin: Duration) -> Self {
        Waiter {
            spinner: Spinner::new(max_spin),
            machine: Machine::default(),
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

    /// Waits until `done(word)` holds, spinning first if spinning can pay now (see the
    /// module docs) for at most the spinner's budget. Returns the word's value, or `None` if
    /// `deadline` passed first.
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
        // A zero budget means "never spin": nothing below is looked at or published.
        let tracking = !self.spinner.max.is_zero();
        if tracking {
            let now = Instant::now();
            let here = running_mark(sched::current_cpu());
            if side.running.load(Ordering::Relaxed) != here {
                side.running.store(here, Ordering::Relaxed);
            }
            self.machine.look_if_due(now, side);
            let peer_here =
                |here| here != UNKNOWN_CPU && side.peer_running.load(Ordering::Relaxed) == here;
            let plan = if self.machine.shared_cpus <= 1 || peer_here(here) {
                Plan::SharedCpu
            } else if self.machine.busy {
                Plan::Busy
            } else {
                Plan::Spin(self.spinner.budget())
            };
            match plan {
                Plan::SharedCpu => self.stats.spins_skipped_shared_cpu += 1,
                Plan::Busy => self.stats.spins_skipped_busy += 1,
                Plan::Spin(spin) if spin.is_zero() => {}
                Plan::Spin(spin) => {
                    self.stats.spins += 1;
                    'spin: loop {
                        for _ in 0..64 {
                            std::hint::spin_loop();
                            let value = word.load(Ordering::Acquire);
                            if done(value) {
                                self.spinner.record(true);
                                self.stats.answered_while_spinning += 1;
                                return Some(value);
                            }
                        }
                        if peer_here(here) {
                            // The peer came onto this CPU (woken here): it runs once we sleep.
                            break 'spin;
                        }
                        if now.elapsed() >= spin {
                            self.spinner.record(false);
                            break 'spin;
                        }
                    }
                }
            }
            side.running.store(0, Ordering::Relaxed);
        }
        let stats = &mut self.stats;
        let result = loop {
            side.sleeping.store(1, Ordering::SeqCst);
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
        side.sleeping.store(0, Ordering::SeqCst);
        if tracking {
            side.running
                .store(running_mark(sched::current_cpu()), Ordering::Relaxed);
        }
        match result {
            Some(_) => stats.answered_after_sleeping += 1,
            None => stats.timeouts += 1,
        }
        result
    }
}

/// What a waiter knows of the machine, looked at every [`LOOK_PERIOD`].
#[derive(Debug, Clone, Default)]
struct Machine {
    /// When to look again; `None` before the first look.
    next_look: Option<Instant>,
    /// How many CPUs the two processes together may run on.
    shared_cpus: usize,
    /// Whether more tasks were runnable than CPUs are online.
    busy: bool,
}

impl Machine {
    fn look_if_due(&mut self, now: Instant, side: Side<'_>) {
        if self.next_look.is_some_and(|next| now < next) {
            return;
        }
        self.next_look = Some(now + LOOK_PERIOD);
        self.shared_cpus = match publish_affinity(side.cpus) {
            None => usize::MAX,
            Some(mine) => mine
                .iter()
                .zip(side.peer_cpus)
                .map(|(mine, theirs)| (mine | theirs.load(Ordering::Relaxed)).count_ones() as usize)
                .sum(),
        };
        // With one CPU for both the load does not matter: the wait sleeps anyway.
        self.busy = self.shared_cpus > 1
            && runnable_tasks().is_some_and(|runnable| runnable > sched::online_cpus());
    }
}

/// How many tasks are runnable on the whole machine now (running or waiting for a CPU,
/// the caller included): the numerator of the fourth field of `/proc/loadavg`
/// (`0.52 0.58 0.59 3/467 12345`). `None` if the file cannot be read or parsed, e.g.
/// without `/proc`: the machine then counts as not busy.
fn runnable_tasks() -> Option<usize> {
    let mut buffer = [0u8; 128];
    let mut file = std::fs::File::open("/proc/loadavg").ok()?;
    let len = file.read(&mut buffer).ok()?;
    parse_runnable(buffer.get(..len)?)
}

fn parse_runnable(loadavg: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(loadavg).ok()?;
    let (runnable, _) = text.split_ascii_whitespace().nth(3)?.split_once('/')?;
    runnable.parse().ok()
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
        if self.waits.is_multiple_of(64) {
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

#[cfg(test)]
mod tests {
    use super::parse_runnable;

    #[test]
    fn the_runnable_count_comes_from_the_fourth_field() {
        assert_eq!(parse_runnable(b"0.52 0.58 0.59 3/467 12345\n"), Some(3));
        assert_eq!(parse_runnable(b"0.52 0.58 0.59 12/467 12345"), Some(12));
        assert_eq!(parse_runnable(b"0.52 0.58 0.59"), None);
        assert_eq!(parse_runnable(b"0.52 0.58 0.59 x/467 1"), None);
        assert_eq!(parse_runnable(b"\xff"), None);
        assert!(super::runnable_tasks().is_some_and(|n| n >= 1));
    }
}
