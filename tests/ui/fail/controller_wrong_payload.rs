use std::process::Command;

use tandem::{Options, Transitions};

#[derive(Transitions)]
enum Generator {
    #[transition(input = u32, replay)]
    BeginLumi,
}

fn main() {
    let mut generator =
        GeneratorController::spawn(Command::new("worker"), 0, Options::default(), &()).unwrap();
    // `begin_lumi` takes the lumi number as a `u32`.
    let _ = generator.begin_lumi(1, &1.5f64);
    //~^ ERROR[E0308] mismatched types
}
