//! The worker binary of `typed_e2e`: built from the same definitions as its controller.
//!
//! A test target with its own `main` (`harness = false`) rather than a `[[bin]]` of the
//! facade: run by `cargo test` without a channel in its environment it exits at once and
//! prints nothing; `typed_e2e` starts it as a worker.

mod generator_types;

use generator_types::{GeneratorWorker, ToyWorker};

fn main() {
    match ToyWorker::serve_from_env(|config| Ok(ToyWorker::new(config))) {
        Ok(_) => {}
        Err(error) => {
            eprintln!("generator_worker: {error}");
            std::process::exit(2);
        }
    }
}
