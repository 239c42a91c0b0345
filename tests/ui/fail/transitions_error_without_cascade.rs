// A derive error leaves the generated names in place: the user's impl and calls still
// resolve, so the only error is the derive's own.
use tandem::{Context, Transitions, WorkerError};

#[derive(Transitions)]
enum Job {
    #[transition(input = u32, outptu = u64)]
    Step,
}

struct Worker;

impl JobWorker for Worker {
    fn step(&mut self, _context: &mut Context, input: u32) -> Result<(), WorkerError> {
        let _ = input;
        Ok(())
    }
}

fn drive(controller: &mut JobController) {
    let _ = controller.step(1, &7);
}

fn main() {
    let _ = drive;
}
