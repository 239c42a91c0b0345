//! What a waiter knows of the machine: how many CPUs the two processes of its channel may
//! share, and whether the machine is overcommitted. Looked at again every [`LOOK_PERIOD`], by
//! each waiter for itself: one `sched_getaffinity` and one `pread` of `/proc/loadavg` on a
//! descriptor kept open (no file is opened here).

use std::sync::atomic::{AtomicU64, Ordering};

use super::Side;
use crate::sys::sched::{self, MASK_WORDS};

/// How often a waiter looks again at the CPU masks and the machine's load, in nanoseconds.
pub(super) const LOOK_PERIOD: u64 = 2_000_000;

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

/// What a waiter knows of the machine, looked at every [`LOOK_PERIOD`].
#[derive(Debug, Clone, Default)]
pub(super) struct Machine {
    /// When to look again (`CLOCK_MONOTONIC` ns); 0 before the first look.
    next_look: u64,
    /// How many CPUs the two processes together may run on.
    pub(super) shared_cpus: usize,
    /// Whether more tasks were runnable than CPUs are online.
    pub(super) busy: bool,
}

impl Machine {
    pub(super) fn look_if_due(&mut self, now: u64, side: Side<'_>) {
        if self.next_look != 0 && now < self.next_look {
            return;
        }
        self.next_look = now + LOOK_PERIOD;
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
    parse_runnable(sched::read_loadavg(&mut buffer)?)
}

fn parse_runnable(loadavg: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(loadavg).ok()?;
    let (runnable, _) = text.split_ascii_whitespace().nth(3)?.split_once('/')?;
    runnable.parse().ok()
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
