#[derive(tandem::Transitions)]
enum Generator {
    Event,
    Restart,
}

fn main() {}
