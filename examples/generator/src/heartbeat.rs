//! Progress lines for batch logs: when stderr is not a terminal, one line every few
//! seconds with the events so far, the rate and the worker restarts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Progress lines for logs (stderr not a terminal): events, rate and restarts, every
/// `every`.
pub struct Heartbeat {
    every: Duration,
    total: u64,
    started: Instant,
    next: Instant,
    restarts: Arc<AtomicU64>,
}

impl Heartbeat {
    pub fn new(every: Duration, total: u64, restarts: Arc<AtomicU64>) -> Heartbeat {
        let started = Instant::now();
        Heartbeat {
            every,
            total,
            started,
            next: started + every,
            restarts,
        }
    }

    /// Called after each event with the events so far; prints when a line is due.
    pub fn event(&mut self, events: u64) {
        if !events.is_multiple_of(256) && events != self.total {
            return;
        }
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + self.every;
        let seconds = now.duration_since(self.started).as_secs_f64();
        eprintln!(
            "heartbeat        {events}/{} events ({:.1} %), {:.0} events/s, {} restarts, {seconds:.0} s",
            self.total,
            100.0 * events as f64 / self.total.max(1) as f64,
            events as f64 / seconds.max(1e-9),
            self.restarts.load(Ordering::Relaxed)
        );
    }
}
