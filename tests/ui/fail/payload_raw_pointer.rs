#[derive(tandem::Payload)]
struct Handle {
    ptr: *const u8,
    //~^ ERROR raw pointers cannot cross a process boundary: an address means nothing in another process; send the data itself
}

fn main() {}
