struct Opaque;

#[derive(tandem::Transitions)]
enum Generator {
    BeginRun,
    #[transition(input = Opaque, output = u64)]
    Event,
}

fn main() {}
