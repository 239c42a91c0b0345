#[derive(tandem::Payload)]
enum Event {
    Data(std::sync::Arc<[u8; 4]>),
    //~^ ERROR[E0277] `Arc<[u8; 4]>` cannot cross a process boundary: it does not implement `Payload`
    //~| NOTE derive it with `#[derive(tandem::Payload)]`
    //~| NOTE a value is copied into the other process
    //~| LABEL not a `Payload`
}

fn main() {}
