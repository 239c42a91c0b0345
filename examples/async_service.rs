//! Serves concurrent requests from tokio to a pool of workers, one `AsyncController` per
//! worker, without a thread per call: `cargo run --example async_service --features tokio`.
//! The binary is its own worker (it serves when started with a channel token).

use std::process::Command;
use std::time::{Duration, Instant};

use tandem::{AsyncController, BufferError, Options, WorkerChannel};

const UPPERCASE: u32 = 1;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(mut worker) = WorkerChannel::from_env(0)? {
        worker.handle_transitions(|request| -> Result<(), BufferError> {
            // Stands for a slow legacy library call.
            std::thread::sleep(Duration::from_millis(20));
            let reply = request.trusted_input()?.to_ascii_uppercase();
            request.output().write(&reply)
        })?;
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut workers = Vec::new();
        for id in 0..4 {
            let command = Command::new(std::env::current_exe()?);
            workers.push(AsyncController::spawn(command, "service", id, Options::default()).await?);
        }
        let started = Instant::now();
        // 16 requests, four at a time per worker, all awaited on this one thread.
        let requests = workers
            .iter_mut()
            .enumerate()
            .map(|(w, worker)| async move {
                let mut replies = Vec::new();
                for n in 0..4u64 {
                    let request = format!("request {w}.{n}");
                    let reply = worker
                        .transition(UPPERCASE, n, request.as_bytes(), |mut reply| reply.to_vec())
                        .await??;
                    replies.push(String::from_utf8_lossy(&reply).into_owned());
                }
                Ok::<_, tandem::ChannelError>(replies)
            });
        let mut served = 0;
        for replies in join(requests.collect()).await {
            for reply in replies? {
                println!("{reply}");
                served += 1;
            }
        }
        println!("{served} requests served in {:?}", started.elapsed());
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

/// Awaits every future on this task.
async fn join<T, F: std::future::Future<Output = T>>(futures: Vec<F>) -> Vec<T> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *result = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}
