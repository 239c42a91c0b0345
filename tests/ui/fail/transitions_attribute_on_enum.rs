#[derive(tandem::Transitions)]
#[transition(setup = String)]
enum Generator {
    BeginRun,
}

fn main() {}
