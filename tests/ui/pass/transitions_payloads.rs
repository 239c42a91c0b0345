//! Transitions with and without input and output; snake-case method names from acronyms,
//! digits and keywords; a worker implementing the generated trait and a controller whose
//! generated methods have the expected signatures.
use tandem::{ChannelError, Context, Payload, Response, Transitions, WorkerError};

#[derive(Payload, Debug, PartialEq)]
struct Header {
    run: u32,
    label: String,
}

#[derive(Transitions)]
enum Steps {
    Plain,
    #[transition(input = u32)]
    InputOnly,
    #[transition(output = Header)]
    OutputOnly,
    #[transition(input = Vec<(u8, String)>, output = Option<Header>, replay)]
    Both,
    HTTPRequest,
    Step2Done,
    Type,
    Match,
}

struct Worker;

impl StepsWorker for Worker {
    fn plain(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Ok(())
    }
    fn input_only(&mut self, context: &mut Context, input: u32) -> Result<(), WorkerError> {
        context.set_keep(input > 1);
        Ok(())
    }
    fn output_only(&mut self, context: &mut Context) -> Result<Header, WorkerError> {
        Ok(Header { run: context.id() as u32, label: context.transition().to_owned() })
    }
    fn both(
        &mut self,
        _: &mut Context,
        input: Vec<(u8, String)>,
    ) -> Result<Option<Header>, WorkerError> {
        Ok(input.into_iter().next().map(|(run, label)| Header { run: run.into(), label }))
    }
    fn http_request(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Err("no network".into())
    }
    fn step2_done(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Ok(())
    }
    fn r#type(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Ok(())
    }
    fn r#match(&mut self, _: &mut Context) -> Result<(), WorkerError> {
        Ok(())
    }
}

#[allow(dead_code)]
fn drive(controller: &mut StepsController) -> Result<(), ChannelError> {
    let _: Response<()> = controller.plain(1)?;
    let _: Response<()> = controller.input_only(2, &7)?;
    let _: Response<Header> = controller.output_only(3)?;
    let both: Response<Option<Header>> = controller.both(4, &vec![(1, "a".to_owned())])?;
    let _ = both.output.map(|header| header.label);
    let _ = (both.keep, controller.http_request(5)?, controller.step2_done(6)?);
    controller.r#type(7)?;
    controller.r#match(8)?;
    let _ = controller.restarts();
    Ok(())
}

pub fn main() {
    assert_eq!(
        Steps::NAMES,
        [
            "plain",
            "input_only",
            "output_only",
            "both",
            "http_request",
            "step2_done",
            "type",
            "match"
        ]
    );
    assert_eq!(Steps::REPLAY, [false, false, false, true, false, false, false, false]);
    assert_eq!(Steps::BASE_NAME, "steps");
    assert_eq!(Steps::Both.kind(), 3);
    assert_eq!(Steps::Match.kind(), 7);
    // Not started as a worker: returns at once.
    assert!(!Worker::serve_from_env(|()| Ok(Worker)).unwrap());
}
