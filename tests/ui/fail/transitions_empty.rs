#[derive(tandem::Transitions)]
enum Generator {}
//~^ ERROR a transitions enum needs at least one variant: declare one per transition

fn main() {}
