// A mistake in the enum leaves every generated name in place: the worker impl, `serve_from_env`,
// `spawn`, the transition methods, `restarts`, `typed` and `shutdown` still resolve, so the
// derive's own error is the only one.
use std::process::Command;
use tandem::{Context, Options, Payload, Transitions, WorkerError};

#[derive(Payload)]
struct JobConfig {
    label: String,
}

#[derive(Transitions)]
#[transitions(setup = JobConfig)]
enum Job {
    #[transition(input = u32, outptu = u64)]
    //~^ ERROR unknown key `outptu` in `#[transition(...)]`: expected `input`, `output`, `replay`, `borrow`, `reuse`, `item` or `end`
    Step,
    #[transition(output = String)]
    Report,
}

struct Worker(JobConfig);

impl JobWorker for Worker {
    fn step(&mut self, _context: &mut Context, input: u32) -> Result<(), WorkerError> {
        let _ = input;
        Ok(())
    }
    fn report(&mut self, _context: &mut Context) -> Result<String, WorkerError> {
        Ok(self.0.label.clone())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if Worker::serve_from_env(|config: JobConfig| Ok(Worker(config)))? {
        return Ok(());
    }
    let config = JobConfig { label: "run 1".into() };
    let mut job = JobController::spawn(Command::new("worker"), 0, Options::default(), &config)?;
    job.step(1, &7)?;
    let report: String = job.report(2)?.output;
    println!("{report} after {} restarts", job.restarts());
    let _ = job.typed().restarts();
    let _ = Job::NAMES;
    let _ = job.shutdown();
    Ok(())
}
