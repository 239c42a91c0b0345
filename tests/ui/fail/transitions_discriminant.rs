#[derive(tandem::Transitions)]
enum Generator {
    BeginRun,
    Event = 7,
}

fn main() {}
