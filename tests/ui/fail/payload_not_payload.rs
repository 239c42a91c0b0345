struct Opaque;

#[derive(tandem::Payload)]
struct Holder {
    name: String,
    opaque: Opaque,
    //~^ ERROR[E0277] `Opaque` cannot cross a process boundary: it does not implement `Payload`
    //~| NOTE derive it with `#[derive(tandem::Payload)]`
    //~| NOTE a value is copied into the other process
    //~| LABEL not a `Payload`
}

fn main() {}
