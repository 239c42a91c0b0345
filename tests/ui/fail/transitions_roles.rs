use tandem::Transitions;

#[derive(Transitions)]
enum Job {
    #[transition(input = u32, replay, item)]
    BeginRun,
    #[transition(input = u64, item)]
    Event,
    #[transition(input = u64, item, end)]
    Other,
}

fn main() {}
