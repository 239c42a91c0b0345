//! The worker of `typed_e2e` (a test of the `process` binary): built from the same
//! definitions as its controller, in another binary, this one, which `typed_e2e` starts with
//! the role `generator_worker`.

use crate::generator_types::{GeneratorWorker, ToyWorker};

/// Serves the generator's transitions on this process's main thread.
pub fn serve() {
    match ToyWorker::serve_from_env(|config| Ok(ToyWorker::new(config))) {
        Ok(true) => {}
        Ok(false) => panic!("started as `generator_worker` without a channel"),
        Err(error) => {
            eprintln!("generator_worker: {error}");
            std::process::exit(2);
        }
    }
}
