#[derive(tandem::Transitions)]
#[transitions(setpu = String)]
//~^ ERROR unknown key `setpu` in `#[transitions(...)]`: expected `setup = T` or `crate = "..."`
enum Generator {
    BeginRun,
}

fn main() {}
