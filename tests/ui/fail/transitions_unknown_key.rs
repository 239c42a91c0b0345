#[derive(tandem::Transitions)]
enum Generator {
    #[transition(inptu = u32)]
    BeginRun,
}

fn main() {}
