//! A setup payload: `spawn` takes it, `make` receives it, and it is part of the fingerprint.
use tandem::{Context, Options, Payload, Transitions, WorkerError};

#[derive(Payload)]
pub struct Config {
    pub label: String,
    pub tune: Option<String>,
}

/// Public, so that the generated trait and controller are public too and must be documented.
#[derive(Transitions)]
#[transitions(setup = Config)]
pub enum WithSetup {
    #[transition(output = String)]
    Label,
}

#[derive(Transitions)]
enum WithoutSetup {
    #[transition(output = String)]
    Label,
}

struct Worker(Config);

impl WithSetupWorker for Worker {
    fn label(&mut self, _: &mut Context) -> Result<String, WorkerError> {
        Ok(self.0.label.clone())
    }
}

#[allow(dead_code)]
fn spawn(config: &Config) -> WithSetupController {
    WithSetupController::spawn(std::process::Command::new("worker"), 1, Options::default(), config)
        .unwrap()
}

pub fn main() {
    let _: fn(Config) -> Result<Worker, WorkerError> = |config| Ok(Worker(config));
    let _ = Worker::serve_from_env(|config: Config| Ok(Worker(config)));
    assert_ne!(WithSetup::FINGERPRINT, WithoutSetup::FINGERPRINT);
    assert_eq!(WithoutSetup::Label.kind(), 0);
}
