#[derive(tandem::Payload)]
struct Callback {
    call: fn(u32) -> u32,
    //~^ ERROR function pointers cannot cross a process boundary: code addresses differ between processes; send an enum that selects the function
}

fn main() {}
