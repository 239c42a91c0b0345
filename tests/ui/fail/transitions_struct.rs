#[derive(tandem::Transitions)]
struct Generator {
//~^ ERROR `Transitions` can only be derived for an enum: declare one fieldless variant per transition
    run: u32,
}

fn main() {}
