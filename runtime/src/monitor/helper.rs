//! The helper thread: sleeps on the wake pipe, runs the user's action outside of signal
//! context when a fatal signal was handled, then acknowledges.

use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::handler::{ACK_FD, ACK_TIMEOUT_MS, CRASHING, HELPER_TID, WAKE_FD};
use super::{current_action, FatalSignal, MonitorError, MONITORED_RAW};
use crate::sys::signal as sys;

/// A running helper thread and the pipe ends the rest of the process holds.
pub(super) struct Helper {
    thread: JoinHandle<()>,
    /// Write end of the wake pipe (published in `WAKE_FD`).
    wake: OwnedFd,
    /// Read end of the acknowledgement pipe (published in `ACK_FD`).
    ack: OwnedFd,
    stop: Arc<AtomicBool>,
}

impl Helper {
    /// Creates the pipes, spawns the helper with the monitored signals blocked and publishes
    /// the pipe ends and the acknowledgement bound for the handler.
    pub(super) fn spawn(ack_timeout_ms: u32) -> Result<Helper, MonitorError> {
        let (wake_rx, wake) = sys::pipe(true).map_err(|source| MonitorError::Pipe {
            which: "wake",
            source,
        })?;
        let (ack, ack_tx) = sys::pipe(true).map_err(|source| MonitorError::Pipe {
            which: "acknowledgement",
            source,
        })?;
        let stop = Arc::new(AtomicBool::new(false));

        // Block the signals here so the new thread inherits the mask from its first
        // instruction: no fatal signal can ever be delivered to the helper.
        let saved_mask = sys::block_signals(&MONITORED_RAW)
            .map_err(|source| MonitorError::SignalMask { source })?;
        let spawned = thread::Builder::new().name("tandem-monitor".into()).spawn({
            let stop = Arc::clone(&stop);
            move || run(wake_rx, ack_tx, &stop)
        });
        let restored = saved_mask.restore();
        let thread = spawned.map_err(|source| MonitorError::SpawnHelper { source })?;
        let helper = Helper {
            thread,
            wake,
            ack,
            stop,
        };
        if let Err(source) = restored {
            helper.shut_down();
            return Err(MonitorError::SignalMask { source });
        }

        ACK_TIMEOUT_MS.store(ack_timeout_ms, SeqCst);
        ACK_FD.store(helper.ack.as_raw_fd(), SeqCst);
        WAKE_FD.store(helper.wake.as_raw_fd(), SeqCst);
        Ok(helper)
    }

    /// Unpublishes the pipes, then stops and joins the thread.
    ///
    /// If a fatal signal is being handled, the process is about to die and a handler may
    /// still use the pipe ends: they and the thread are leaked instead (see the module docs).
    pub(super) fn shut_down(self) {
        WAKE_FD.store(-1, SeqCst);
        ACK_FD.store(-1, SeqCst);
        if CRASHING.load(SeqCst) != 0 {
            std::mem::forget(self);
            return;
        }
        // Stop flag first, then the wake byte: the helper reads the flag after the byte.
        self.stop.store(true, SeqCst);
        if sys::write_all(self.wake.as_raw_fd(), &[0]) {
            // A panic of the helper itself (not of the action, which is caught) has already
            // been reported by the panic hook; there is nothing more to do with it here.
            let _ = self.thread.join();
        }
        HELPER_TID.store(0, SeqCst);
    }
}

/// The body of the helper thread.
fn run(wake: OwnedFd, ack: OwnedFd, stop: &AtomicBool) {
    HELPER_TID.store(sys::gettid(), SeqCst);
    let mut byte = [0u8; 1];
    loop {
        // Drain the pipe, then read the flags: a spurious wake-up is harmless, and a flag set
        // before the byte was written is always seen.
        match sys::read_exact(wake.as_raw_fd(), &mut byte) {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
        let signal = CRASHING.load(SeqCst);
        if signal != 0 {
            if let Some(signal) = FatalSignal::from_raw(signal) {
                if let Some(action) = current_action() {
                    // A panicking action must not keep the crashing thread waiting for the
                    // whole bound; the panic hook has reported it already.
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| action(signal)));
                }
            }
            sys::write_all(ack.as_raw_fd(), &[1]);
            return;
        }
        if stop.load(SeqCst) {
            return;
        }
    }
}
