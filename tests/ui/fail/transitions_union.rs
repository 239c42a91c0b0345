#[derive(tandem::Transitions)]
union Generator {
    run: u32,
    lumi: f32,
}

fn main() {}
