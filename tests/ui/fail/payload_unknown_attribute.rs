#[derive(tandem::Payload)]
#[payload(packed)]
struct Data {
    value: u32,
}

fn main() {}
