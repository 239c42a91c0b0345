#[derive(tandem::Transitions)]
union Generator {
//~^ ERROR `Transitions` can only be derived for an enum: declare one fieldless variant per transition
    run: u32,
    lumi: f32,
}

fn main() {}
