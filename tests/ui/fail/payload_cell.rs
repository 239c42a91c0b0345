#[derive(tandem::Payload)]
struct Counter {
    hits: Option<core::cell::Cell<u32>>,
}

fn main() {}
