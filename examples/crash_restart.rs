//! A worker whose "legacy library" crashes: the controller gets a typed error at once, with
//! the signal, the transition and the worker's last stderr lines, restarts the worker,
//! replays the state-establishing transitions and carries on with the same results.
//!
//! Run: `cargo run --example crash_restart`.

use std::process::Command;
use std::time::Duration;

use tandem::{ChannelError, Context, Options, Payload, Transitions, WorkerError};

/// Setup: which event the flaky library dies on, in the first worker only.
#[derive(Payload, Debug, Clone)]
pub struct Config {
    crash_on_event: u64,
    crash_marker: String,
}

/// The protocol.
#[derive(Transitions)]
#[transitions(setup = Config)]
pub enum Job {
    /// Seeds the worker's state; replayed after a restart.
    #[transition(input = u64, replay)]
    Begin,
    /// Computes one value from the worker's state and the input.
    #[transition(input = u64, output = u64)]
    Step,
}

struct Flaky {
    config: Config,
    seed: u64,
}

/// Stands for a C library with a bug: it writes through a null pointer.
fn legacy_library_call() {
    let pointer = std::hint::black_box(std::ptr::null_mut::<u64>());
    // SAFETY: none; this is the bug the example is about. The write faults with SIGSEGV.
    unsafe { pointer.write_volatile(1) };
}

impl JobWorker for Flaky {
    fn begin(&mut self, _context: &mut Context, seed: u64) -> Result<(), WorkerError> {
        self.seed = seed;
        Ok(())
    }

    fn step(&mut self, context: &mut Context, input: u64) -> Result<u64, WorkerError> {
        // The marker file exists until the first crash: only the first worker is flaky.
        if context.id() == self.config.crash_on_event
            && std::fs::remove_file(&self.config.crash_marker).is_ok()
        {
            eprintln!(
                "flaky: calling the legacy library for event {}",
                context.id()
            );
            legacy_library_call();
        }
        Ok(self.seed.rotate_left(17) ^ input.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if Flaky::serve_from_env(|config| Ok(Flaky { config, seed: 0 }))? {
        return Ok(());
    }
    let marker = std::env::temp_dir().join(format!("tandem-flaky-{}", std::process::id()));
    std::fs::write(&marker, b"crash once")?;
    let config = Config {
        crash_on_event: 3,
        crash_marker: marker.to_string_lossy().into_owned(),
    };
    let options = Options::default().transition_timeout(Duration::from_secs(5));
    let mut job =
        JobController::spawn(Command::new(std::env::current_exe()?), 0, options, &config)?;
    job.begin(0, &42)?;
    for id in 1..=5u64 {
        let value = match job.step(id, &id) {
            Ok(response) => response.output,
            Err(error @ ChannelError::WorkerCrashed { .. }) => {
                println!("event {id}: {error}");
                job.restart()?;
                println!(
                    "event {id}: worker restarted ({} restart), begin replayed; retrying",
                    job.restarts()
                );
                job.step(id, &id)?.output
            }
            Err(error) => return Err(error.into()),
        };
        println!("event {id}: {value:#018x}");
    }
    let _ = std::fs::remove_file(&marker);
    Ok(())
}
