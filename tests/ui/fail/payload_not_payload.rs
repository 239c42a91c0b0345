struct Opaque;

#[derive(tandem::Payload)]
struct Holder {
    name: String,
    opaque: Opaque,
}

fn main() {}
