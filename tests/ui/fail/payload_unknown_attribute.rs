#[derive(tandem::Payload)]
#[payload(packed)]
//~^ ERROR unknown key `packed` in `#[payload(...)]`: expected `pod` or `crate = "..."`
struct Data {
    value: u32,
}

fn main() {}
