use tandem::Transitions;

#[derive(Transitions)]
enum Detector {
    #[transition(replay, reuse)]
    BeginRun,
}

fn main() {}
