#[derive(tandem::Payload)]
struct Data {
    #[payload(skip)]
    //~^ ERROR `#[payload(...)]` on a field is not supported: it belongs on the type
    value: u32,
}

fn main() {}
