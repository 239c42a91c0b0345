//! Death watchers: a thread per watched process, asleep in `poll(2)` on the process's pidfd
//! until it exits or the watcher is dropped. No polling interval: the kernel wakes the
//! thread the moment the process dies, whatever killed it (SIGKILL and the OOM killer too).

use std::io;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use super::process::{EventFd, ExitReason, PidFd};

/// Watches one process and runs a callback when it dies.
#[derive(Debug)]
pub(crate) struct DeathWatcher {
    pid: i32,
    cancel: Arc<EventFd>,
    exit: Arc<OnceLock<Option<ExitReason>>>,
    thread: Option<JoinHandle<()>>,
}

impl DeathWatcher {
    /// Starts watching the process of `pidfd` (whose pid is `pid`, for names and reports).
    /// When it dies, the watcher records how (if the process is our child; a child stays
    /// unreaped for its owner) and then calls `on_death`.
    pub(crate) fn start(
        pidfd: PidFd,
        pid: i32,
        on_death: impl FnOnce(Option<ExitReason>) + Send + 'static,
    ) -> io::Result<DeathWatcher> {
        let cancel = Arc::new(EventFd::new()?);
        let exit = Arc::new(OnceLock::new());
        let thread = std::thread::Builder::new()
            .name(format!("tandem-watch-{pid}"))
            .spawn({
                let cancel = Arc::clone(&cancel);
                let exit = Arc::clone(&exit);
                move || {
                    if let Ok(true) = pidfd.wait_exit(Some(&cancel), None) {
                        let reason = pidfd.peek_exit();
                        let _ = exit.set(reason);
                        on_death(reason);
                    }
                }
            })?;
        Ok(DeathWatcher {
            pid,
            cancel,
            exit,
            thread: Some(thread),
        })
    }

    /// The watched pid, as the kernel gave it when the process was spawned.
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// How the process ended: `None` while it runs, `Some(None)` if it ended with a status
    /// this process cannot read.
    pub(crate) fn exit(&self) -> Option<Option<ExitReason>> {
        self.exit.get().copied()
    }
}

impl Drop for DeathWatcher {
    fn drop(&mut self) {
        self.cancel.signal();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
