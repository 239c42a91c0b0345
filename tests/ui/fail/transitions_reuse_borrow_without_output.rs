use tandem::Transitions;

#[derive(Transitions)]
enum Calorimeter {
    #[transition(input = Vec<u64>, borrow, reuse)]
    Sum,
}

fn main() {}
