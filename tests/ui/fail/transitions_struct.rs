#[derive(tandem::Transitions)]
struct Generator {
    run: u32,
}

fn main() {}
