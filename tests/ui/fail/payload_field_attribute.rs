#[derive(tandem::Payload)]
struct Data {
    #[payload(skip)]
    value: u32,
}

fn main() {}
