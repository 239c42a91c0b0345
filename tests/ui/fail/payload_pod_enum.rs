#[derive(tandem::Payload)]
#[payload(pod)]
enum Choice {
    A,
    B,
}

fn main() {}
