//! `#[transitions(crate = "...")]` with a path to a re-export of tandem.
mod reexport {
    pub use tandem as inner;
}

use tandem::{Context, WorkerError};

#[derive(tandem::Transitions)]
#[transitions(crate = "crate::reexport::inner", setup = u32)]
enum Generator {
    #[transition(input = u64, output = u64)]
    Event,
}

struct Worker(u32);

impl GeneratorWorker for Worker {
    fn event(&mut self, _: &mut Context, input: u64) -> Result<u64, WorkerError> {
        Ok(input + u64::from(self.0))
    }
}

fn main() {
    assert_eq!(<Generator as tandem::Transitions>::NAMES, ["event"]);
    let _ = Worker::serve_from_env(|setup| Ok(Worker(setup)));
    let _ = Generator::Event;
}
