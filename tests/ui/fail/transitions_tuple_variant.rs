#[derive(tandem::Transitions)]
enum Generator {
    BeginRun,
    Event(u64),
}

fn main() {}
