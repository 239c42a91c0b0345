use std::process::Command;

use tandem::{PoolOptions, Transitions};

#[derive(Transitions)]
enum Generator {
    #[transition(input = u64, output = f64, item)]
    Event,
}

fn main() {
    let mut pool =
        GeneratorPool::start(|| Command::new("worker"), &(), PoolOptions::new(2)).unwrap();
    // Events are seeded with a `u64`, not a string.
    let _ = pool.event([(1, "seed".to_owned())], |_| {});
    //~^ ERROR[E0271] type mismatch resolving `<[(u64, String); 1] as IntoIterator>::Item == (u64, u64)`
}
