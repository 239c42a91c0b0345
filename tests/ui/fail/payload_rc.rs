use std::rc::Rc;

#[derive(tandem::Payload)]
struct Shared {
    data: Vec<Rc<String>>,
    //~^ ERROR[E0277] `Rc<String>` cannot cross a process boundary: it does not implement `Payload`
    //~| NOTE derive it with `#[derive(tandem::Payload)]`
    //~| NOTE a value is copied into the other process
    //~| LABEL not a `Payload`
}

fn main() {}
