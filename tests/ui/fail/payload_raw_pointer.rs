#[derive(tandem::Payload)]
struct Handle {
    ptr: *const u8,
}

fn main() {}
