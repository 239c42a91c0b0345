#[derive(tandem::Transitions)]
#[transitions(setpu = String)]
enum Generator {
    BeginRun,
}

fn main() {}
