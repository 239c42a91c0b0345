//! An enum used only on the worker side, where no variant is ever constructed, compiles
//! without warnings (the generated code names every variant).
#![deny(warnings)]

use tandem::{Context, WorkerError};

#[derive(tandem::Transitions)]
enum Job {
    /// Starts a run.
    #[transition(input = u32)]
    Start,
    Stop,
}

struct Worker;

impl JobWorker for Worker {
    fn start(&mut self, _: &mut Context, run: u32) -> Result<(), WorkerError> {
        let _ = run;
        Ok(())
    }
    fn stop(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Ok(())
    }
}

pub fn main() {
    let _ = Worker::serve_from_env(|()| Ok(Worker));
}
