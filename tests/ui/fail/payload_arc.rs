#[derive(tandem::Payload)]
enum Event {
    Data(std::sync::Arc<[u8; 4]>),
}

fn main() {}
