//! The smallest complete tandem program: one binary that is both the controller and, when
//! the controller starts it, the worker. Run: `cargo run --example minimal`.

use std::process::Command;

use tandem::{Context, Options, Payload, Transitions, WorkerError};

#[derive(Payload, Debug)]
struct Hit {
    energy: f64,
}

/// The protocol: one transition, `sum`, from hits to their total energy.
#[derive(Transitions)]
enum Calorimeter {
    #[transition(input = Vec<Hit>, output = f64)]
    Sum,
}

/// The worker's side: the code that could crash lives here, in its own process.
struct Worker;

impl CalorimeterWorker for Worker {
    fn sum(&mut self, context: &mut Context, hits: Vec<Hit>) -> Result<f64, WorkerError> {
        let total: f64 = hits.iter().map(|hit| hit.energy).sum();
        context.set_keep(total > 10.0); // a filter decision travels with the output
        Ok(total)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Started by a controller: serve until it stops us.
    if Worker::serve_from_env(|()| Ok(Worker))? {
        return Ok(());
    }
    // The controller: start this same program as the worker, then call it.
    let command = Command::new(std::env::current_exe()?);
    let mut calorimeter = CalorimeterController::spawn(command, 0, Options::default(), &())?;
    for event in 1..=3u64 {
        let hits: Vec<Hit> = (0..event * 4)
            .map(|i| Hit {
                energy: 0.5 * i as f64,
            })
            .collect();
        let response = calorimeter.sum(event, &hits)?;
        println!(
            "event {event}: {} hits, {:.1} GeV, keep {}",
            hits.len(),
            response.output,
            response.keep
        );
    }
    calorimeter.shutdown();
    Ok(())
}
