//! The accepted shapes, compiled with this binary; each test runs the case's `main`.

macro_rules! cases {
    ($($case:ident = $path:literal,)*) => {
        $(
            #[path = $path]
            #[allow(dead_code)]
            mod $case;

            #[test]
            fn $case() {
                $case::main();
            }
        )*

        /// The file names of the cases above, for `every_pass_case_is_a_module`.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

cases! {
    payload_enums = "../../ui/pass/payload_enums.rs",
    payload_every_field_type = "../../ui/pass/payload_every_field_type.rs",
    payload_generic = "../../ui/pass/payload_generic.rs",
    payload_pod = "../../ui/pass/payload_pod.rs",
    payload_recursive = "../../ui/pass/payload_recursive.rs",
    payload_struct_shapes = "../../ui/pass/payload_struct_shapes.rs",
    payload_user_cell = "../../ui/pass/payload_user_cell.rs",
    transitions_bare_attribute = "../../ui/pass/transitions_bare_attribute.rs",
    transitions_payloads = "../../ui/pass/transitions_payloads.rs",
    transitions_pool = "../../ui/pass/transitions_pool.rs",
    transitions_reuse = "../../ui/pass/transitions_reuse.rs",
    transitions_setup = "../../ui/pass/transitions_setup.rs",
    transitions_worker_only = "../../ui/pass/transitions_worker_only.rs",
}
