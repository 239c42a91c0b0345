#[derive(tandem::Transitions)]
enum Generator {
    BeginRun,
    #[allow(non_camel_case_types)]
    Begin_Run,
    //~^ ERROR duplicate transition name: `BeginRun` and `Begin_Run` both become the method `begin_run`
}

fn main() {}
