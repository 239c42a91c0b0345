use tandem::Transitions;

#[derive(Transitions)]
enum Detector {
    #[transition(replay, reuse)]
    //~^ ERROR `reuse` keeps a transition's input and output between calls, and this one has neither: declare `input = T` or `output = U`, or drop `reuse`
    BeginRun,
}

fn main() {}
