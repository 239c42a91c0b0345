// Every problem is reported from one build, and no cascade follows from using the type.
#[derive(tandem::Payload)]
#[payload(pod, bogus)]
enum Bad<'a> {
    Text(&'a str),
    Callback(fn(u8)),
}

fn takes<T: tandem::Payload>() {}

fn main() {
    takes::<Bad<'static>>();
}
