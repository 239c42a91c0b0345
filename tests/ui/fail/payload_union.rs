#[derive(tandem::Payload)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
