struct Opaque;

#[derive(tandem::Transitions)]
enum Generator {
    BeginRun,
    #[transition(input = Opaque, output = u64)]
    //~^ ERROR[E0277] `Opaque` cannot cross a process boundary: it does not implement `Payload`
    //~| NOTE derive it with `#[derive(tandem::Payload)]`
    //~| NOTE a value is copied into the other process
    //~| LABEL not a `Payload`
    Event,
}

fn main() {}
