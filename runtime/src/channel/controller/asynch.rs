//! The controller's async wait (feature `tokio`): no thread blocks and nothing polls.
//!
//! Before it parks, the wait announces [`PARKED_ASYNC`] in `controller_sleeping`, then looks
//! at the reply word once more (`SeqCst`, as the blocking wait does before `FUTEX_WAIT`): the
//! worker's post stores the reply and then loads that word, so either the wait sees the reply
//! or the worker sees the announcement and rings the doorbell. The task then waits on three
//! things at once: the doorbell's eventfd and the worker's pidfd, both registered with the
//! tokio reactor through `AsyncFd`, and the deadline. A readable pidfd means the worker died:
//! the wait raises `PEER_GONE` itself, as the death-watcher thread of a blocking channel would.
//!
//! # Cancellation
//! The posted request is remembered in `pending` until its reply is read. A future dropped
//! while it waits leaves it there; the next async call first waits for that reply (and drops
//! it), so the worker is never handed a new input while it may still read the old one in
//! place, and no call ever reads another call's reply. The announcement is withdrawn when the
//! future is dropped (a drop guard); a ring that still comes only causes a spurious look.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use super::{ControllerChannel, Watch};
use crate::channel::control::{PEER_GONE, SEQUENCE_MASK};
use crate::channel::wait;
use crate::channel::wait::PARKED_ASYNC;
use crate::channel::{ChannelError, TransitionLabel};
use crate::sys::doorbell::Doorbell;
use crate::sys::process::PidFd;
use crate::sys::reactor;

/// How many times the wait looks at the reply word before it parks: a reply that is already
/// on its way (a call of a few microseconds) then costs no reactor round trip.
const SPIN_LOOKS: u32 = 64;

/// The descriptors of one channel, registered with the current tokio reactor.
#[derive(Debug)]
pub(crate) struct Registration {
    doorbell: AsyncFd<Arc<Doorbell>>,
    /// The current worker's pidfd; replaced after each restart.
    pidfd: Option<AsyncFd<Arc<PidFd>>>,
}

impl Registration {
    /// Forgets the pidfd of a worker being replaced.
    pub(crate) fn forget_worker(&mut self) {
        self.pidfd = None;
    }
}

/// Withdraws the announcement when the wait ends, however it ends (a dropped future too).
struct Parked<'a>(&'a AtomicU32);

impl<'a> Parked<'a> {
    fn announce(word: &'a AtomicU32) -> Parked<'a> {
        word.store(PARKED_ASYNC, Ordering::SeqCst);
        Parked(word)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

impl ControllerChannel {
    /// Replaces the death-watcher thread by the worker's `pidfd`, which the async waits
    /// register with their reactor: an async channel needs no thread. A death the thread
    /// already saw stays recorded (`PEER_GONE` is in the reply word).
    pub(crate) fn watch_without_thread(&mut self, pidfd: Arc<PidFd>) {
        let (pid, seen) = match self.watcher.take() {
            Some(Watch::Thread(watcher)) => (watcher.pid(), watcher.exit()),
            Some(Watch::Pidfd { pid, exit, .. }) => (pid, exit.get().copied()),
            None => return,
        };
        let exit = std::sync::OnceLock::new();
        if let Some(seen) = seen {
            let _ = exit.set(seen);
        }
        self.watcher = Some(Watch::Pidfd { pid, pidfd, exit });
    }

    /// Registers this channel's doorbell and current worker's pidfd with the reactor of the
    /// current tokio runtime (call it within one).
    pub(crate) fn register(&self) -> std::io::Result<Registration> {
        let doorbell = reactor::register_doorbell(Arc::clone(&self.doorbell))?;
        let mut registration = Registration {
            doorbell,
            pidfd: None,
        };
        self.register_worker(&mut registration)?;
        Ok(registration)
    }

    /// Registers the current worker's pidfd in place of the previous worker's.
    pub(crate) fn register_worker(&self, registration: &mut Registration) -> std::io::Result<()> {
        registration.pidfd = None;
        if let Some(Watch::Pidfd { pidfd, .. }) = &self.watcher {
            registration.pidfd = Some(reactor::register_pidfd(Arc::clone(pidfd))?);
        }
        Ok(())
    }

    /// The transition an abandoned async call left in flight, if any.
    pub(crate) fn pending(&self) -> Option<TransitionLabel> {
        self.pending
    }

    /// Posts transition `kind`/`id` (its input written already) for an async wait, after
    /// the checks of [`do_transition`](Self::do_transition). The caller must have settled a
    /// pending call first.
    pub(crate) fn start_async(
        &mut self,
        kind: u32,
        id: u64,
    ) -> Result<TransitionLabel, ChannelError> {
        debug_assert!(self.pending.is_none());
        let label = self.check_startable(kind, id)?;
        self.post_request(kind, id);
        self.pending = Some(label);
        Ok(label)
    }

    /// Waits for the reply to the pending transition `label` without blocking the thread,
    /// and interprets it as [`do_transition`](Self::do_transition) does; a failure other than
    /// the worker's own breaks the channel, as there. At each time-out of a live worker,
    /// `retry` decides whether to wait another `timeout`.
    pub(crate) async fn await_async(
        &mut self,
        label: TransitionLabel,
        timeout: Duration,
        retry: &mut (dyn FnMut() -> bool + Send),
        registration: &Registration,
    ) -> Result<(), ChannelError> {
        let result = self.await_word(label, timeout, retry, registration).await;
        let result = match result {
            Ok(word) if word & SEQUENCE_MASK == self.sequence => {
                self.pending = None;
                self.completed(label)
            }
            Ok(_) => Err(self.worker_lost(label)),
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            if !matches!(error, ChannelError::WorkerFailed { .. }) {
                self.broken = Some(crate::channel::UnusableReason::after(error));
            }
        }
        result
    }

    async fn await_word(
        &mut self,
        label: TransitionLabel,
        timeout: Duration,
        retry: &mut (dyn FnMut() -> bool + Send),
        registration: &Registration,
    ) -> Result<u32, ChannelError> {
        let started = tokio::time::Instant::now();
        // `Duration::MAX` (wait for ever) is past any instant: a year stands for it.
        let far = |from: tokio::time::Instant| {
            from.checked_add(timeout)
                .unwrap_or_else(|| from + Duration::from_secs(365 * 24 * 3600))
        };
        let mut deadline = far(started);
        let mut retries = 0;
        let sequence = self.sequence;
        let done = |word: u32| word & SEQUENCE_MASK == sequence || word & PEER_GONE != 0;
        let control = Arc::clone(&self.control);
        let block = control.block();
        loop {
            let mut word = block.reply.load(Ordering::Acquire);
            for _ in 0..SPIN_LOOKS {
                if done(word) {
                    return Ok(word);
                }
                std::hint::spin_loop();
                word = block.reply.load(Ordering::Acquire);
            }
            let _parked = Parked::announce(&block.controller_sleeping);
            let word = block.reply.load(Ordering::SeqCst);
            if done(word) {
                return Ok(word);
            }
            tokio::select! {
                biased;
                ready = registration.doorbell.readable() => {
                    if let Ok(mut guard) = ready {
                        // Drain first, then clear: a ring after the drain is a new edge.
                        guard.get_inner().drain();
                        guard.clear_ready();
                    }
                }
                () = died(registration.pidfd.as_ref()) => {
                    if let Some(Watch::Pidfd { pidfd, exit, .. }) = &self.watcher {
                        let _ = exit.set(pidfd.peek_exit());
                    }
                    wait::raise_flag(&block.reply, PEER_GONE);
                }
                () = tokio::time::sleep_until(deadline) => {
                    let word = block.reply.load(Ordering::SeqCst);
                    if done(word) {
                        return Ok(word);
                    }
                    if retry() {
                        retries += 1;
                        deadline = far(deadline);
                        continue;
                    }
                    return Err(ChannelError::TransitionTimedOut {
                        transition: label,
                        after: started.elapsed(),
                        retries,
                    });
                }
            }
        }
    }
}

/// Resolves when the worker of `pidfd` has died (never without one).
async fn died(pidfd: Option<&AsyncFd<Arc<PidFd>>>) {
    match pidfd {
        // A pidfd stays readable once its process exited: nothing to clear.
        Some(pidfd) => {
            let _ = pidfd.readable().await;
        }
        None => std::future::pending().await,
    }
}
