#[derive(tandem::Transitions)]
enum Generator<const N: usize> {
//~^ ERROR a transitions enum cannot be generic: its payload types must be concrete so that both processes agree on them
    BeginRun,
    Event,
}

fn main() {}
