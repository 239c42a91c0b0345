// Every problem is reported from one build, and no cascade follows from using the type.
#[derive(tandem::Payload)]
#[payload(pod, bogus)]
//~^ ERROR unknown key `bogus` in `#[payload(...)]`: expected `pod` or `crate = "..."`
//~| ERROR `#[payload(pod)]` applies to structs only: an enum's tag must be validated
enum Bad<'a> {
    Text(&'a str),
    //~^ ERROR `&str` cannot cross a process boundary: use `String`
    Callback(fn(u8)),
    //~^ ERROR function pointers cannot cross a process boundary: code addresses differ between processes; send an enum that selects the function
}

fn takes<T: tandem::Payload>() {}

fn main() {
    takes::<Bad<'static>>();
}
