#[derive(tandem::Transitions)]
enum Generator {
    Spawn,
    Event,
}

fn main() {}
