//! `reuse` on every shape of transition: input and output, output only, input only, with
//! `borrow` (only the output is kept) and beside transitions without it; the worker methods
//! take `&mut` values and return `()`, the controller methods are unchanged.
use tandem::{ChannelError, Context, Payload, Response, Transitions, TrustedSlice, WorkerError};

#[derive(Payload, Default)]
struct Histogram {
    bins: Vec<u32>,
}

#[derive(Transitions)]
enum Reused {
    #[transition(input = Vec<f32>, output = Histogram, reuse)]
    Fill,
    #[transition(output = Vec<u8>, reuse)]
    Produce,
    Plain,
    #[transition(input = String, reuse, replay)]
    Configure,
    #[transition(input = Vec<u64>, output = Vec<u64>, borrow, reuse)]
    Sums,
}

struct Worker;

impl ReusedWorker for Worker {
    fn fill(
        &mut self,
        _: &mut Context,
        input: &mut Vec<f32>,
        output: &mut Histogram,
    ) -> Result<(), WorkerError> {
        output.bins.clear();
        output.bins.extend(input.iter().map(|x| *x as u32));
        Ok(())
    }
    fn produce(&mut self, _: &mut Context, output: &mut Vec<u8>) -> Result<(), WorkerError> {
        output.resize(16, 7);
        Ok(())
    }
    fn plain(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Ok(())
    }
    fn configure(&mut self, _: &mut Context, input: &mut String) -> Result<(), WorkerError> {
        // Ownership stays available: the kept value is left empty.
        let _owned: String = std::mem::take(input);
        Ok(())
    }
    fn sums(
        &mut self,
        _: &mut Context,
        input: TrustedSlice<'_, u64>,
        output: &mut Vec<u64>,
    ) -> Result<(), WorkerError> {
        output.clear();
        output.extend_from_slice(&input);
        Ok(())
    }
}

#[allow(dead_code)]
fn drive(controller: &mut ReusedController) -> Result<(), ChannelError> {
    let _: Response<Histogram> = controller.fill(1, &vec![1.0, 2.0])?;
    let _: Response<Vec<u8>> = controller.produce(2)?;
    let _: Response<()> = controller.configure(3, &"calibration".to_owned())?;
    let _: Response<Vec<u64>> = controller.sums(4, &[1, 2, 3])?;
    Ok(())
}

pub fn main() {
    let _ = Worker::serve_from_env(|()| Ok(Worker));
}
