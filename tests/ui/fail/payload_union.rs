#[derive(tandem::Payload)]
union Bits {
//~^ ERROR unions cannot derive `Payload`: the decoder cannot know which field is active; use an enum
    int: u32,
    float: f32,
}

fn main() {}
