//! Round-trip cost of one transition between two real processes.
//!
//! The bench binary is its own worker: started with `TANDEM_CHANNEL` set, it serves
//! transitions instead of benchmarking (the one-binary pattern).

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use tandem::{Controller, Options, WorkerChannel};

const EMPTY: u32 = 0;
const ECHO: u32 = 1;

fn serve_as_worker(mut worker: WorkerChannel) {
    let result = worker.handle_transitions(|request| -> Result<(), tandem::BufferError> {
        if request.kind() == ECHO {
            let len = request.trusted_input()?.len();
            request.output().write_with(len, |out| out.fill(1))?;
        }
        Ok(())
    });
    std::process::exit(i32::from(result.is_err()));
}

fn spawn(spin: Option<Duration>) -> Controller {
    let mut options = Options::default();
    if let Some(spin) = spin {
        options = options.spin(spin);
    }
    let exe = std::env::current_exe().expect("bench executable");
    Controller::spawn(Command::new(exe), "bench", 0, options).expect("spawn worker")
}

fn transitions(c: &mut Criterion) {
    let mut group = c.benchmark_group("transition");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    for (label, spin) in [
        ("spin_then_futex", None),
        ("futex_only", Some(Duration::ZERO)),
    ] {
        let mut controller = spawn(spin);
        controller.to_worker().write(&[]).expect("write");
        let mut id = 0u64;
        group.bench_function(format!("empty_round_trip/{label}"), |b| {
            b.iter(|| {
                id += 1;
                controller
                    .do_transition(EMPTY, id, |reply| black_box(reply.keep()))
                    .expect("transition")
            })
        });
    }

    let mut controller = spawn(None);
    for size in [4 << 10, 1 << 20] {
        let input = vec![7u8; size];
        let mut id = 0u64;
        group.throughput(Throughput::Bytes(2 * size as u64));
        group.bench_function(format!("echo/{size}B"), |b| {
            b.iter(|| {
                id += 1;
                controller.to_worker().write(&input).expect("write");
                controller
                    .do_transition(ECHO, id, |mut reply| {
                        black_box(reply.bytes().expect("read").len())
                    })
                    .expect("transition")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, transitions);

fn main() {
    if let Some(worker) = WorkerChannel::from_env(0).expect("open channel") {
        serve_as_worker(worker);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
