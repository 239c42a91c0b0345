#[derive(tandem::Transitions)]
enum Generator {
    Event,
    Restart,
    //~^ ERROR transition `Restart` would become the method `restart`, which the generated controller already has: rename the variant
}

fn main() {}
