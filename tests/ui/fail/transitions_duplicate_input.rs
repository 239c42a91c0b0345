#[derive(tandem::Transitions)]
enum Generator {
    #[transition(input = u32, output = u64, input = String)]
    //~^ ERROR duplicate key `input` in `#[transition(...)]`: give each key once
    BeginRun,
}

fn main() {}
