//! [`AsyncPool`]: a fixed set of async typed workers lent to concurrent tasks, one call or
//! one sequence of calls at a time, as a connection pool lends connections.

use std::ops::{Deref, DerefMut};
use std::process::Command;
use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

use super::AsyncTypedController;
use crate::channel::ChannelError;
use crate::process::{ExitReason, ProcessOptions};
use crate::typed::{RestartPolicy, Transitions};

/// Workers of the transitions `T`, each an [`AsyncTypedController`] on its own channel,
/// lent to the tasks that [`get`](Self::get) one: a task waits (without a thread) while
/// every worker is lent. A lost worker is restarted by its restart policy, with its state
/// replayed, during the call that found it lost.
///
/// Unlike the blocking [`Pool`](crate::Pool), which spreads the items of one stream over
/// its workers, this pool serves independent requests (a web API, an event display): each
/// task picks the worker it runs its calls on. A worker lent to a task whose future is
/// dropped comes back to the pool with its call settled by the next borrower (see
/// [`AsyncController`](super::AsyncController)'s cancellation).
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), tandem::ChannelError> {
/// use std::process::Command;
/// use tandem::{AsyncPool, Options, RestartPolicy, Transitions};
///
/// #[derive(Transitions)]
/// enum Lookup {
///     #[transition(input = String, output = String)]
///     Resolve,
/// }
/// use LookupAsyncCalls as _;
///
/// let pool = AsyncPool::<Lookup>::start(
///     4,
///     || Command::new("/opt/legacy/bin/lookup-worker"),
///     Options::default(),
///     &(),
///     RestartPolicy { max_restarts: 10, ..RestartPolicy::NEVER },
/// )
/// .await?;
/// // From any number of tasks on this runtime:
/// let answer = pool.get().await.resolve(7, &"cms".to_owned()).await?;
/// println!("{}", answer.output);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncPool<T: Transitions> {
    idle: Mutex<Vec<AsyncTypedController<T>>>,
    /// One permit per idle worker.
    available: Semaphore,
    workers: usize,
}

impl<T: Transitions> AsyncPool<T> {
    /// Starts `workers` workers from the commands `command` returns, on channels 0 to
    /// `workers - 1`, each set up with `setup` and given `restart_policy`.
    ///
    /// # Errors
    /// The first error of [`AsyncTypedController::spawn`]; the workers already started are
    /// stopped.
    pub async fn start(
        workers: usize,
        command: impl Fn() -> Command,
        options: impl Into<ProcessOptions>,
        setup: &T::Setup,
        restart_policy: RestartPolicy,
    ) -> Result<Self, ChannelError> {
        let options = options.into();
        let mut idle = Vec::with_capacity(workers);
        for id in 0..workers {
            // Channel ids are names: past u32::MAX (never in practice) creation reports the clash.
            let id = u32::try_from(id).unwrap_or(u32::MAX);
            let mut worker =
                AsyncTypedController::<T>::spawn(command(), id, options.clone(), setup).await?;
            worker.set_restart_policy(restart_policy);
            idle.push(worker);
        }
        Ok(AsyncPool {
            idle: Mutex::new(idle),
            available: Semaphore::new(workers),
            workers,
        })
    }

    /// Lends an idle worker, waiting for one if every worker is lent. The worker comes back
    /// to the pool when the returned guard is dropped.
    pub async fn get(&self) -> PooledWorker<'_, T> {
        let permit = self
            .available
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let worker = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .expect("a permit is held for every idle worker");
        PooledWorker {
            pool: self,
            worker: Some(worker),
            _permit: permit,
        }
    }

    /// How many workers the pool has.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// How many workers are idle now.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Stops every worker, waiting for the ones still lent to come back first. Returns how
    /// each ended.
    pub async fn shutdown(self) -> Vec<Option<ExitReason>> {
        let _all = self
            .available
            .acquire_many(self.workers as u32)
            .await
            .expect("the pool's semaphore is never closed");
        let workers = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        let mut ended = Vec::with_capacity(workers.len());
        for worker in workers {
            ended.push(worker.shutdown().await);
        }
        ended
    }
}

/// A worker lent by an [`AsyncPool`]: derefs to its [`AsyncTypedController`], so the
/// derive's `<Enum>AsyncCalls` methods apply; back to the pool when dropped.
#[derive(Debug)]
pub struct PooledWorker<'p, T: Transitions> {
    pool: &'p AsyncPool<T>,
    worker: Option<AsyncTypedController<T>>,
    _permit: SemaphorePermit<'p>,
}

impl<T: Transitions> Deref for PooledWorker<'_, T> {
    type Target = AsyncTypedController<T>;

    fn deref(&self) -> &Self::Target {
        self.worker.as_ref().expect("present until drop")
    }
}

impl<T: Transitions> DerefMut for PooledWorker<'_, T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.worker.as_mut().expect("present until drop")
    }
}

impl<T: Transitions> Drop for PooledWorker<'_, T> {
    fn drop(&mut self) {
        // Back before the permit (a field, dropped after this body) lets another task in.
        if let Some(worker) = self.worker.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(worker);
        }
    }
}
