#[derive(tandem::Payload)]
struct Locked {
    value: std::sync::Mutex<u32>,
    //~^ ERROR[E0277] Mutex<u32>` cannot cross a process boundary: it does not implement `Payload`
    //~| NOTE derive it with `#[derive(tandem::Payload)]`
    //~| NOTE a value is copied into the other process
    //~| LABEL not a `Payload`
}

fn main() {}
