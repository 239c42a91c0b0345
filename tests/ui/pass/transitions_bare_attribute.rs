//! Every key of `#[transition(...)]` is optional: a bare `#[transition]` and an empty
//! `#[transition()]` are a transition without payloads.
use tandem::{Context, Transitions, WorkerError};

#[derive(Transitions)]
enum Job {
    #[transition]
    Start,
    #[transition()]
    Stop,
}

struct Worker;

impl JobWorker for Worker {
    fn start(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Ok(())
    }
    fn stop(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Ok(())
    }
}

pub fn main() {
    assert_eq!(Job::NAMES, ["start", "stop"]);
    let _ = Worker::serve_from_env(|()| Ok(Worker));
}
