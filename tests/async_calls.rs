//! Async controllers on a current-thread tokio runtime, with real worker processes: calls
//! awaited concurrently, no thread per call or channel, a worker's death, cancelled calls.
//! Its own `main`: the binary is also the worker, and counts its own threads.

use std::process::Command;
use std::time::{Duration, Instant};

use tandem::{AsyncController, BufferError, ChannelError, Options, ProcessOptions, WorkerChannel};

/// Sleeps the number of microseconds its input starts with, then echoes the input.
const SLEEP_ECHO: u32 = 1;

fn serve() -> Result<bool, Box<dyn std::error::Error>> {
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
    // The stderr capture is a thread per worker: off, so the count shows the channels alone.
    ProcessOptions::new(Options::default().transition_timeout(Duration::from_secs(10)))
        .capture_stderr(false)
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
    });
    println!("4 passed, 0 failed");
    Ok(())
}
