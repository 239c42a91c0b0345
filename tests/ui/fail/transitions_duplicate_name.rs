#[derive(tandem::Transitions)]
enum Generator {
    BeginRun,
    #[allow(non_camel_case_types)]
    Begin_Run,
}

fn main() {}
