#[derive(tandem::Transitions)]
enum Generator {
    Spawn,
    //~^ ERROR transition `Spawn` would become the method `spawn`, which the generated controller already has: rename the variant
    Event,
}

fn main() {}
