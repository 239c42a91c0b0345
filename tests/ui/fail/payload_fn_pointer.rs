#[derive(tandem::Payload)]
struct Callback {
    call: fn(u32) -> u32,
}

fn main() {}
