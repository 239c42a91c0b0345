//! The hot path: publishing a word and waiting for the peer's word to change.
//!
//! A waiter first spins on the shared word for a short, bounded time (a round trip between
//! two running processes costs ~100 ns this way, against ~20 µs per futex wake-up), then
//! announces that it sleeps and blocks in `FUTEX_WAIT`. A poster stores the word, then wakes
//! the futex only if the waiter announced sleep. Both sides use `SeqCst` for "store mine,
//! then load theirs", so at least one of them sees the other's store: either the waiter sees
//! the new word and does not sleep, or the poster sees the sleeping flag and wakes it. A
//! spurious wake-up only makes the waiter look again; it never counts as completion.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys::futex;

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

/// An adaptive spin budget: spinning pays only when the peer is running and answers soon,
/// which depends on the machine's load and on the work per transition. The budget halves
/// each time a spin ends without the answer (the waiter had to sleep anyway) and doubles,
/// up to the configured maximum, each time the answer arrives while spinning. Every 64th
/// wait spins for the full budget again, so a budget that fell to zero can recover.
#[derive(Debug, Clone)]
pub(crate) struct Spinner {
    max: Duration,
    current: Duration,
    waits: u32,
}

impl Spinner {
    pub(crate) fn new(max: Duration) -> Self {
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

/// Stores `value` into `word` and wakes the peer if it sleeps on it.
pub(crate) fn post(word: &AtomicU32, sleeping: &AtomicU32, value: u32) {
    word.store(value, Ordering::SeqCst);
    if sleeping.load(Ordering::SeqCst) != 0 {
        futex::wake_all(word);
    }
}

/// Sets `bits` in `word` and wakes every sleeper unconditionally (used by death watchers
/// and fatal-signal handlers, which are rare and must never be missed).
pub(crate) fn raise_flag(word: &AtomicU32, bits: u32) {
    word.fetch_or(bits, Ordering::SeqCst);
    futex::wake_all(word);
}

/// Waits until `done(word)` holds, spinning for at most the spinner's budget first. Returns
/// the word's value, or `None` if `deadline` passed first.
pub(crate) fn wait_for(
    word: &AtomicU32,
    sleeping: &AtomicU32,
    spinner: &mut Spinner,
    deadline: Option<Instant>,
    done: impl Fn(u32) -> bool,
) -> Option<u32> {
    let value = word.load(Ordering::Acquire);
    if done(value) {
        return Some(value);
    }
    let spin = spinner.budget();
    if !spin.is_zero() {
        let spin_start = Instant::now();
        'spin: loop {
            for _ in 0..64 {
                std::hint::spin_loop();
                let value = word.load(Ordering::Acquire);
                if done(value) {
                    spinner.record(true);
                    return Some(value);
                }
            }
            if spin_start.elapsed() >= spin {
                break 'spin;
            }
        }
        spinner.record(false);
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
        futex::wait(word, value, timeout);
    };
    sleeping.store(0, Ordering::SeqCst);
    result
}
