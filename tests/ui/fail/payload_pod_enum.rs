#[derive(tandem::Payload)]
#[payload(pod)]
//~^ ERROR `#[payload(pod)]` applies to structs only: an enum's tag must be validated
enum Choice {
    A,
    B,
}

fn main() {}
