#[derive(tandem::Payload)]
struct Message<'a> {
    text: &'a str,
}

fn main() {}
