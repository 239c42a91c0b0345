#[derive(tandem::Transitions)]
enum Generator {
    BeginRun { run: u32 },
    Event,
}

fn main() {}
