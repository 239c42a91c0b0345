//! The limit on wake-ups that bring nothing: a peer that calls `FUTEX_WAKE` on the word in a
//! loop without changing it (a hung or hostile worker) would otherwise keep the waiter
//! running, waking and going back to sleep until its time-out. Pure logic, per wait; times in
//! nanoseconds.
//!
//! A waiter notes each futex return that brought neither the answer nor its time-out. Up to
//! [`BURST`] of them per [`WINDOW`] are taken as they come (a signal, a death watcher's
//! wake-up, a late post of the previous round); at the next one, the waiter sleeps out the
//! rest of the window in `nanosleep`, which no `FUTEX_WAKE` can cut short. A storm therefore
//! costs at most `BURST + 2` wake-ups per window (`BURST + 1` futex returns and the end of the
//! back-off), and the answer, the peer's death (whose flag is in the same word) or the
//! time-out is seen at most one window late.

/// The window over which unproductive wake-ups are counted.
pub(super) const WINDOW: u64 = 1_000_000;

/// Unproductive wake-ups taken per window before the waiter backs off.
pub(super) const BURST: u32 = 3;

/// Counts the unproductive wake-ups of one wait.
#[derive(Debug, Clone, Default)]
pub(super) struct StormGuard {
    /// When the current window began (0: no unproductive wake-up yet).
    window_start: u64,
    /// Unproductive wake-ups in the current window.
    count: u32,
}

impl StormGuard {
    /// Notes an unproductive wake-up at `now`; returns how long to back off (sleep where no
    /// wake-up reaches) before waiting on the word again, if the window's burst is spent.
    pub(super) fn note(&mut self, now: u64) -> Option<u64> {
        if self.window_start == 0 || now.saturating_sub(self.window_start) >= WINDOW {
            self.window_start = now;
            self.count = 0;
        }
        self.count += 1;
        if self.count <= BURST {
            return None;
        }
        let end = self.window_start + WINDOW;
        // The next window starts when the back-off ends.
        self.window_start = end;
        self.count = 0;
        Some(end.saturating_sub(now).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::{StormGuard, BURST, WINDOW};

    #[test]
    fn a_few_wake_ups_pass_a_storm_backs_off() {
        let mut guard = StormGuard::default();
        let start = 5 * WINDOW;
        for n in 0..BURST {
            assert_eq!(guard.note(start + u64::from(n)), None);
        }
        // The burst is spent: sleep out the rest of the window.
        assert_eq!(
            guard.note(start + u64::from(BURST)),
            Some(WINDOW - u64::from(BURST))
        );
        // After the back-off a new window allows a new burst.
        let next = start + WINDOW;
        for n in 0..BURST {
            assert_eq!(guard.note(next + u64::from(n)), None);
        }
        assert!(guard.note(next + 10).is_some());
    }

    #[test]
    fn a_storm_gets_at_most_burst_plus_one_wake_ups_per_window() {
        let mut guard = StormGuard::default();
        let (mut now, mut wake_ups) = (WINDOW, 0u64);
        let end = now + 100 * WINDOW;
        // A wake-up every microsecond, as fast as a FUTEX_WAKE loop.
        while now < end {
            wake_ups += 1;
            match guard.note(now) {
                Some(back_off) => now += back_off,
                None => now += 1_000,
            }
        }
        assert!(wake_ups <= 100 * u64::from(BURST + 1) + 1, "{wake_ups}");
        // (plus one back-off per window: BURST + 2 times the thread runs per window)
        assert!(wake_ups >= 100 * u64::from(BURST), "{wake_ups}");
    }

    #[test]
    fn rare_wake_ups_never_back_off() {
        let mut guard = StormGuard::default();
        // A profiling signal at 1 kHz: one per window.
        for n in 1..1000 {
            assert_eq!(guard.note(n * WINDOW + 17), None);
        }
    }
}
