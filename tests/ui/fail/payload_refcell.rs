use std::cell::RefCell;

#[derive(tandem::Payload)]
struct Counter(RefCell<u64>);

fn main() {}
