// `set_timeout` is an inherent method of `AsyncTypedController`: the generated async call
// of that name would be shadowed by it, so the variant is refused whatever the features.
#[derive(tandem::Transitions)]
enum Generator {
    Event,
    SetTimeout,
    //~^ ERROR transition `SetTimeout` would become the method `set_timeout`, which `AsyncTypedController` already has (it would shadow the async call): rename the variant
}

fn main() {}
