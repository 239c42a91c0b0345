#[derive(tandem::Payload)]
struct Erased {
    value: Box<dyn std::fmt::Debug>,
}

fn main() {}
