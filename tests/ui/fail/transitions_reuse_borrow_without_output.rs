use tandem::Transitions;

#[derive(Transitions)]
enum Calorimeter {
    #[transition(input = Vec<u64>, borrow, reuse)]
    //~^ ERROR `reuse` on a `borrow` transition keeps only its output, since the input is read in place, and this one has none: declare `output = U` or drop `reuse`
    Sum,
}

fn main() {}
