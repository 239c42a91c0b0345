#[derive(tandem::Payload)]
struct Erased {
    value: Box<dyn std::fmt::Debug>,
    //~^ ERROR trait objects cannot cross a process boundary: the decoder must know the concrete type; use a concrete type or an enum
}

fn main() {}
