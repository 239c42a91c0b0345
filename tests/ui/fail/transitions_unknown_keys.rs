// Every bad key of an attribute is reported from one build, not only the first.
#[derive(tandem::Transitions)]
enum Generator {
    #[transition(inptu = u32, output = u64, replya)]
    Event,
}

fn main() {}
