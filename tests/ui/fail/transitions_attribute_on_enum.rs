#[derive(tandem::Transitions)]
#[transition(setup = String)]
//~^ ERROR `#[transition(...)]` belongs on a variant: on the enum use `#[transitions(...)]`
enum Generator {
    BeginRun,
}

fn main() {}
