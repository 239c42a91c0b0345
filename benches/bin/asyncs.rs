//! Section `async`: the 8-byte round trip awaited on a current-thread tokio runtime
//! (`AsyncController`, feature `tokio`) against the blocking `Controller` with the same
//! options, futex only and default, each mechanism a long-lived worker of its own,
//! repetitions interleaved so that load from elsewhere hits all of them alike.

use std::time::{Duration, Instant};

use tandem::{AsyncController, Controller, Options};

use crate::peer::{options, self_command, Placement};
use crate::report::{self, quantile, Record};

/// A kind the `tandem-raw` peer answers by echoing its input.
const ECHO: u32 = 100;

enum Caller {
    Blocking(Controller),
    Async(AsyncController),
}

/// Runs the section and adds its records.
pub fn run(rounds: usize, reps: usize, records: &mut Vec<Record>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime");
    let futex_only = || options().spin(Duration::ZERO);
    let mut mechanisms: Vec<(&str, Caller, Vec<u64>)> = vec![
        (
            "blocking, futex only (spin 0)",
            Caller::Blocking(spawn_blocking(futex_only(), 0)),
            Vec::new(),
        ),
        (
            "async, futex only (spin 0)",
            Caller::Async(runtime.block_on(spawn_async(futex_only(), 1))),
            Vec::new(),
        ),
        (
            "blocking, default options",
            Caller::Blocking(spawn_blocking(options(), 2)),
            Vec::new(),
        ),
        (
            "async, default options",
            Caller::Async(runtime.block_on(spawn_async(options(), 3))),
            Vec::new(),
        ),
    ];
    let message = 42u64.to_ne_bytes();
    let mut id = 0u64;
    for _ in 0..reps {
        for (_, caller, samples) in &mut mechanisms {
            for _ in 0..rounds {
                id += 1;
                let began = Instant::now();
                let echoed = match caller {
                    Caller::Blocking(controller) => {
                        controller.to_worker().write(&message).expect("write");
                        controller
                            .do_transition(ECHO, id, |mut reply| reply.to_vec())
                            .expect("blocking round trip")
                    }
                    Caller::Async(controller) => runtime
                        .block_on(
                            controller.transition(ECHO, id, &message, |mut reply| reply.to_vec()),
                        )
                        .expect("async round trip"),
                };
                samples.push(began.elapsed().as_nanos() as u64);
                assert_eq!(echoed.ok(), Some(message.to_vec()), "the echo");
            }
        }
    }
    for (_, _, samples) in &mut mechanisms {
        samples.sort_unstable();
    }
    let p50 = |index: usize| quantile(&mechanisms[index].2, 0.5);
    println!(
        "\n## Async calls: 8-byte round trip awaited on a current-thread tokio runtime \
         ({reps} × {rounds} rounds each, interleaved, unpinned)\n"
    );
    println!("| mechanism | p50 | p99 | p50 / blocking with the same options |");
    println!("| --- | --- | --- | --- |");
    for (index, (label, _, samples)) in mechanisms.iter().enumerate() {
        let reference = index & !1;
        let ratio = (index % 2 == 1).then(|| p50(index) / p50(reference));
        println!(
            "| {label} | {} | {} | {} |",
            report::time(quantile(samples, 0.5)),
            report::time(quantile(samples, 0.99)),
            ratio.map_or("–".to_owned(), |r| format!("{r:.2}×"))
        );
        records.push(Record {
            section: "async",
            mechanism: (*label).to_owned(),
            condition: "unpinned".to_owned(),
            bytes: 8,
            count: samples.len(),
            p50_ns: quantile(samples, 0.5),
            p99_ns: quantile(samples, 0.99),
            rate: 0.0,
            ratio,
            reference: if ratio.is_some() {
                mechanisms[reference].0.to_owned()
            } else {
                String::new()
            },
            extra: Vec::new(),
        });
    }
    drop(mechanisms);
    drop(runtime);
}

fn spawn_blocking(options: Options, id: u32) -> Controller {
    let command = self_command("tandem-raw", Placement::Unpinned);
    Controller::spawn(command, "bench-async", 100 + id, options).expect("start a blocking worker")
}

async fn spawn_async(options: Options, id: u32) -> AsyncController {
    let command = self_command("tandem-raw", Placement::Unpinned);
    AsyncController::spawn(command, "bench-async", 100 + id, options)
        .await
        .expect("start an async worker")
}
