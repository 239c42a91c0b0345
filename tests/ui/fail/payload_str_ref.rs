#[derive(tandem::Payload)]
struct Message<'a> {
    text: &'a str,
    //~^ ERROR `&str` cannot cross a process boundary: use `String`
}

fn main() {}
