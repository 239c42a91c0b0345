#[derive(tandem::Transitions)]
enum Generator<const N: usize> {
    BeginRun,
    Event,
}

fn main() {}
