//! Serves concurrent requests from tokio to a pool of workers without a thread per call or
//! per worker: `cargo run --example async_service --features tokio`. Sixteen requests, each
//! a 20 ms call into a slow "legacy library", share four workers from one thread; a worker
//! that crashed would be restarted and its request retried (the restart policy).
//! The binary is its own worker (it serves when started with a channel token).

use std::process::Command;
use std::time::{Duration, Instant};

use tandem::{AsyncPool, Context, Options, RestartPolicy, Transitions, WorkerError};

#[derive(Transitions)]
enum Service {
    /// Upper-cases a request.
    #[transition(input = String, output = String)]
    Uppercase,
}

struct Legacy;

impl ServiceWorker for Legacy {
    fn uppercase(&mut self, _: &mut Context, request: String) -> Result<String, WorkerError> {
        // Stands for a slow legacy library call.
        std::thread::sleep(Duration::from_millis(20));
        Ok(request.to_ascii_uppercase())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if Legacy::serve_from_env(|()| Ok(Legacy))? {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use ServiceAsyncCalls as _;
        let exe = std::env::current_exe()?;
        let pool = AsyncPool::<Service>::start(
            4,
            || Command::new(&exe),
            Options::default(),
            &(),
            RestartPolicy {
                max_restarts: 2,
                backoff: Duration::ZERO,
            },
        )
        .await?;
        let started = Instant::now();
        let requests = (0..16u64).map(|n| {
            let pool = &pool;
            async move {
                let request = format!("request {n}");
                let mut worker = pool.get().await;
                let reply = worker.uppercase(n, &request).await?;
                Ok::<_, tandem::ChannelError>((reply.output, worker.restarts()))
            }
        });
        let mut restarts = 0;
        for reply in join(requests.collect()).await {
            let (reply, worker_restarts) = reply?;
            println!("{reply}");
            restarts += worker_restarts;
        }
        println!(
            "16 requests served by {} workers in {:?} on one thread ({restarts} restarts)",
            pool.workers(),
            started.elapsed()
        );
        pool.shutdown().await;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

/// Awaits every future on this task, results in order.
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
