//! Async controllers on a current-thread tokio runtime, with real worker processes: calls
//! awaited concurrently, no thread per call or channel (stderr captured), a worker's death,
//! cancelled calls; the typed controller's generated calls, restart with replay, time-out
//! policy, a cancelled restart; the async pool.
//! Its own `main`: the binary is also the worker (untyped, or typed when `ASYNC_ROLE` says
//! so), and counts its own threads.

use std::process::Command;
use std::time::{Duration, Instant};

use tandem::{
    AsyncController, AsyncPool, AsyncTypedController, BufferError, ChannelError, Context, Options,
    Payload, ProcessOptions, RestartPolicy, TimeoutPolicy, Transitions, WorkerChannel, WorkerError,
};

/// The environment variable that makes this binary serve `Counter` instead of raw bytes.
const ROLE: &str = "ASYNC_ROLE";

/// One `step`: sleep, then answer, or crash first when the serving process is `crash_pid`.
#[derive(Payload, Debug, Clone, PartialEq)]
struct Job {
    sleep_micros: u64,
    crash_pid: u32,
    tag: u64,
}

#[derive(Transitions)]
enum Counter {
    /// Sets the base every later `step` reports.
    #[transition(input = u64, replay)]
    Begin,
    /// Answers `[base, tag, pid]`.
    #[transition(input = Job, output = Vec<u64>)]
    Step,
    /// Sums the elements, read in place.
    #[transition(input = Vec<u32>, output = u64, borrow)]
    Sum,
}

#[derive(Default)]
struct CounterState {
    base: u64,
}

impl CounterWorker for CounterState {
    fn begin(&mut self, _: &mut Context, base: u64) -> Result<(), WorkerError> {
        self.base = base;
        Ok(())
    }

    fn step(&mut self, _: &mut Context, job: Job) -> Result<Vec<u64>, WorkerError> {
        if job.crash_pid == std::process::id() {
            eprintln!(
                "worker {}: crashing on purpose at tag {}",
                job.crash_pid, job.tag
            );
            std::process::abort();
        }
        std::thread::sleep(Duration::from_micros(job.sleep_micros));
        Ok(vec![self.base, job.tag, u64::from(std::process::id())])
    }

    fn sum(
        &mut self,
        _: &mut Context,
        input: tandem::TrustedSlice<'_, u32>,
    ) -> Result<u64, WorkerError> {
        Ok(input.iter().map(|&x| u64::from(x)).sum())
    }
}

/// Sleeps the number of microseconds its input starts with, then echoes the input.
const SLEEP_ECHO: u32 = 1;

fn serve() -> Result<bool, Box<dyn std::error::Error>> {
    if std::env::var_os(ROLE).is_some() {
        return Ok(CounterState::serve_from_env(|()| {
            Ok(CounterState::default())
        })?);
    }
    let Some(mut worker) = WorkerChannel::from_env(0)? else {
        return Ok(false);
    };
    worker.handle_transitions(|request| -> Result<(), BufferError> {
        let input = request.trusted_input()?.to_vec();
        let micros = u64::from_le_bytes(input[..8].try_into().unwrap());
        std::thread::sleep(Duration::from_micros(micros));
        request.output().write(&input)
    })?;
    Ok(true)
}

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn options() -> ProcessOptions {
    // The stderr capture stays on (the default): an async controller reads it on the reactor,
    // so the thread count shows that too.
    ProcessOptions::new(Options::default().transition_timeout(Duration::from_secs(10)))
        .capture_stderr(true)
}

fn input(micros: u64, tag: u64) -> Vec<u8> {
    let mut bytes = micros.to_le_bytes().to_vec();
    bytes.extend_from_slice(&tag.to_le_bytes());
    bytes
}

async fn spawn(n: u32) -> Vec<AsyncController> {
    let mut controllers = Vec::new();
    for id in 0..n {
        let exe = std::env::current_exe().unwrap();
        controllers.push(
            AsyncController::spawn(Command::new(exe), "async", id, options())
                .await
                .unwrap(),
        );
    }
    controllers
}

async fn concurrent(n: u32) -> usize {
    let mut controllers = spawn(n).await;
    let before = threads();
    let mut peak = before;
    for round in 0..3u64 {
        let started = Instant::now();
        let calls = controllers.iter_mut().enumerate().map(|(i, c)| async move {
            let tag = round * 100 + i as u64;
            let reply = c
                .transition(SLEEP_ECHO, tag, &input(50_000, tag), |mut r| r.to_vec())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(reply, input(50_000, tag));
        });
        let mut set = Vec::new();
        for call in calls {
            set.push(call);
        }
        join_all(set, &mut peak).await;
        let took = started.elapsed();
        println!("{n} workers x 50 ms, round {round}: {took:?}, threads {before} -> {peak}");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    assert_eq!(peak, before, "no thread per call");
    before
}

/// Polls all futures on this task (no spawn), sampling the thread count between polls.
async fn join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>, peak: &mut usize) {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).map(Some).collect();
    std::future::poll_fn(|cx| {
        *peak = (*peak).max(threads());
        let mut pending = false;
        for slot in futures.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await
}

async fn death() {
    let mut controllers = spawn(1).await;
    let c = &mut controllers[0];
    let pid = c.pid().unwrap() as i32;
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // SAFETY: kill takes plain integers; the pid is our unreaped child (the controller
        // holds it), so it names that worker.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        Instant::now()
    });
    let result = c
        .transition(SLEEP_ECHO, 1, &input(5_000_000, 1), |mut r| r.to_vec())
        .await;
    let resolved = Instant::now();
    let killed = killer.await.unwrap();
    let delay = resolved - killed;
    println!("SIGKILL during an awaited call: {result:?} after {delay:?}");
    assert!(
        matches!(result, Err(ChannelError::WorkerDied { .. })),
        "{result:?}"
    );
    assert!(delay < Duration::from_secs(1));
    c.restart().await.unwrap();
    let reply = c
        .transition(SLEEP_ECHO, 2, &input(0, 2), |mut r| r.to_vec())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, input(0, 2));
}

async fn cancelled() {
    let mut controllers = spawn(1).await;
    let c = &mut controllers[0];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut done, mut abandoned) = (0, 0);
    for tag in 0..1000u64 {
        let work = random() % 400;
        let cut = random() % 400;
        let bytes = input(work, tag);
        let call = c.transition(SLEEP_ECHO, tag, &bytes, |mut r| r.to_vec());
        tokio::select! {
            reply = call => {
                // Whatever was abandoned before, this call gets its own reply.
                assert_eq!(reply.unwrap().unwrap(), input(work, tag));
                done += 1;
            }
            () = tokio::time::sleep(Duration::from_micros(cut)) => abandoned += 1,
        }
    }
    let reply = c
        .transition(SLEEP_ECHO, 5000, &input(0, 5000), |mut r| r.to_vec())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, input(0, 5000));
    println!("1000 calls with random cancellation: {done} completed, {abandoned} abandoned, none misdelivered");
}

fn counter_command() -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.env(ROLE, "typed");
    command
}

fn job(sleep_micros: u64, tag: u64) -> Job {
    Job {
        sleep_micros,
        crash_pid: 0,
        tag,
    }
}

async fn counter() -> AsyncTypedController<Counter> {
    AsyncTypedController::<Counter>::spawn(counter_command(), 0, options(), &())
        .await
        .unwrap()
}

/// A crash recovered by the restart policy: restart, replay of `begin`, the call retried;
/// the recovered failure carries the worker's last stderr line, read on the reactor.
async fn typed_restart_and_replay() {
    use CounterAsyncCalls as _;
    let mut c = counter().await;
    c.set_restart_policy(RestartPolicy {
        max_restarts: 1,
        backoff: Duration::ZERO,
    });
    c.begin(1, &40).await.unwrap();
    // `call_kind`'s future is `Send`, so it may be spawned on a multi-thread runtime.
    fn send<F: std::future::Future + Send>(future: F) -> F {
        future
    }
    send(c.call_kind::<0>(1, &40)).await.unwrap();
    let first = c.step(2, &job(0, 2)).await.unwrap().output;
    assert_eq!(first[..2], [40, 2]);
    let doomed = c.untyped().pid().unwrap();
    let crash = Job {
        crash_pid: doomed,
        ..job(0, 3)
    };
    let retried = c.step(3, &crash).await.unwrap().output;
    assert_eq!(retried[..2], [40, 3], "begin was replayed before the retry");
    assert_ne!(retried[2], u64::from(doomed));
    assert_eq!(c.restarts(), 1);
    match c.recovered_failures() {
        [ChannelError::WorkerCrashed {
            signal,
            stderr_tail: Some(tail),
            ..
        }] => {
            assert_eq!(*signal, libc::SIGABRT);
            assert!(tail.contains("crashing on purpose at tag 3"), "{tail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.sum(4, &[1, 2, 3, 4]).await.unwrap().output, 10);
    // The budget is spent: the next crash is returned, with its stderr tail.
    let doomed = c.untyped().pid().unwrap();
    let crash = Job {
        crash_pid: doomed,
        ..job(0, 5)
    };
    match c.step(5, &crash).await {
        Err(ChannelError::WorkerCrashed {
            stderr_tail: Some(tail),
            ..
        }) => assert!(tail.contains("at tag 5"), "{tail}"),
        other => panic!("{other:?}"),
    }
    println!("typed async: crash recovered by restart + replay, then reported with its stderr");
}

/// Time-outs per transition and the time-out policy; a restart whose future is dropped is
/// finished, replay included, by the next call.
async fn typed_timeouts_and_cancelled_restart() {
    use CounterAsyncCalls as _;
    let mut c = counter().await;
    c.begin(1, &7).await.unwrap();
    c.set_timeout(Counter::Step, Duration::from_millis(100));
    match c.step(2, &job(250_000, 2)).await {
        Err(ChannelError::TransitionTimedOut { retries: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
    c.restart().await.unwrap();
    c.set_timeout_policy(TimeoutPolicy::wait_longer(4));
    let late = c.step(3, &job(250_000, 3)).await.unwrap().output;
    assert_eq!(late[..2], [7, 3]);
    let before = c.untyped().pid().unwrap();
    tokio::select! {
        _ = c.restart() => panic!("a restart does not finish in a millisecond"),
        () = tokio::time::sleep(Duration::from_millis(1)) => {}
    }
    let after = c.step(4, &job(0, 4)).await.unwrap().output;
    assert_eq!(after[..2], [7, 4], "the dropped restart's replay ran first");
    assert_ne!(after[2], u64::from(before));
    println!("typed async: time-out policy, cancelled restart finished with its replay");
}

/// Twelve tasks share three workers; one task abandons its call midway.
async fn pool() {
    use CounterAsyncCalls as _;
    let pool =
        AsyncPool::<Counter>::start(3, counter_command, options(), &(), RestartPolicy::NEVER)
            .await
            .unwrap();
    let before = threads();
    let tasks = (0..12u64).map(|tag| {
        let pool = &pool;
        async move {
            let mut worker = pool.get().await;
            if tag == 5 {
                let slow = job(30_000, tag);
                tokio::select! {
                    _ = worker.step(tag, &slow) => panic!("abandoned in time"),
                    () = tokio::time::sleep(Duration::from_millis(5)) => return None,
                }
            }
            let reply = worker.step(tag, &job(20_000, tag)).await.unwrap().output;
            assert_eq!(reply[1], tag, "each call gets its own reply");
            Some(reply[2])
        }
    });
    let mut peak = before;
    let results = std::cell::RefCell::new(Vec::new());
    let calls: Vec<_> = tasks
        .map(|task| async {
            let pid = task.await;
            results.borrow_mut().push(pid);
        })
        .collect();
    join_all(calls, &mut peak).await;
    let slots = results.into_inner();
    let pids: std::collections::BTreeSet<u64> = slots.iter().flatten().copied().collect();
    assert_eq!(slots.iter().flatten().count(), 11);
    assert!(pids.len() <= 3, "{pids:?}");
    assert_eq!(peak, before, "no thread per call");
    assert_eq!(pool.idle(), 3);
    let ended = pool.shutdown().await;
    assert_eq!(ended.len(), 3);
    println!(
        "async pool: 11 of 12 calls served by {} workers, one abandoned",
        pids.len()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if serve()? {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()?;
    runtime.block_on(async {
        let one = concurrent(1).await;
        let eight = concurrent(8).await;
        println!("threads with 1 channel: {one}, with 8 channels: {eight}");
        assert_eq!(one, eight, "no thread per channel");
        death().await;
        cancelled().await;
        typed_restart_and_replay().await;
        typed_timeouts_and_cancelled_restart().await;
        pool().await;
    });
    println!("7 passed, 0 failed");
    Ok(())
}
