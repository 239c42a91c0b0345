use std::cell::RefCell;

#[derive(tandem::Payload)]
struct Counter(RefCell<u64>);
//~^ ERROR[E0277] `RefCell<u64>` cannot cross a process boundary: it does not implement `Payload`
//~| NOTE derive it with `#[derive(tandem::Payload)]`
//~| NOTE a value is copied into the other process
//~| LABEL not a `Payload`

fn main() {}
