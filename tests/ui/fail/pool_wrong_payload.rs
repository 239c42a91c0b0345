use std::process::Command;

use tandem::{PoolOptions, Transitions};

#[derive(Transitions)]
enum Generator {
    #[transition(input = u32, replay)]
    BeginLumi,
    #[transition(input = u64, output = f64, item)]
    Event,
}

fn main() {
    let mut pool =
        GeneratorPool::start(|| Command::new("worker"), &(), PoolOptions::new(2)).unwrap();
    // `begin_lumi` takes the lumi number as a `u32`.
    pool.begin_lumi(1, &"lumi 1".to_owned());
    //~^ ERROR[E0308] mismatched types
}
