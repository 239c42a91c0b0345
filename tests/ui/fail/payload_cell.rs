#[derive(tandem::Payload)]
struct Counter {
    hits: Option<core::cell::Cell<u32>>,
    //~^ ERROR[E0277] `Cell<u32>` cannot cross a process boundary: it does not implement `Payload`
    //~| NOTE derive it with `#[derive(tandem::Payload)]`
    //~| NOTE a value is copied into the other process
    //~| LABEL not a `Payload`
}

fn main() {}
