#[derive(tandem::Payload)]
struct Locked {
    value: std::sync::Mutex<u32>,
}

fn main() {}
