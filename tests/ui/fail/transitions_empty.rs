#[derive(tandem::Transitions)]
enum Generator {}

fn main() {}
