#[derive(tandem::Transitions)]
enum Generator {
    #[transition(input = u32, output = u64, input = String)]
    BeginRun,
}

fn main() {}
