use std::rc::Rc;

#[derive(tandem::Payload)]
struct Shared {
    data: Vec<Rc<String>>,
}

fn main() {}
