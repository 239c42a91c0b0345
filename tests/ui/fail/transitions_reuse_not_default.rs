use tandem::{Payload, Transitions};

#[derive(Payload)]
struct Calibration {
    gain: f64,
}

#[derive(Transitions)]
enum Detector {
    #[transition(input = u64, output = Calibration, reuse)]
    //~^ ERROR[E0277] `Calibration: Default`
    Calibrate,
}

fn main() {}
