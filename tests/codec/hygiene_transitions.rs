//! The output of `#[derive(Transitions)]` depends on nothing the user has in scope: the enum,
//! its worker and its controller compile under `#![no_implicit_prelude]`, beside items that
//! shadow the names generated code might use unqualified.

#![no_implicit_prelude]
#![allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub
)]

mod shadowing {
    pub struct Vec;
    pub struct String;
    pub struct Option;
    pub struct Box;
    pub struct Result;
    pub struct Ok;
    pub struct Err;
    pub struct Sized;
    pub struct FnOnce;
    pub struct Deref;
    pub struct DerefMut;
    pub struct Debug;
    pub struct Command;
    pub struct Payload;
    pub struct Transitions;
    pub struct Context;
    pub struct WorkerError;
    pub struct ChannelError;
    pub struct Response;
    pub struct TypedController;
    pub struct RestartPolicy;
    pub struct ExitReason;
    pub struct Options;
    pub struct SetupOf;
    pub struct TransitionIo;
    pub struct Variants;
    pub struct u32;
    pub struct u64;
    // Bindings the generated bodies might use (the parameter names of the generated
    // signatures, `id`, `input`, `context`, ..., are part of the documented API instead).
    pub const output: () = ();
    pub const kind: () = ();
    pub const request: () = ();
    pub const other: () = ();
    pub mod core {}
    pub mod std {}
    pub mod tandem {}
    pub mod _tandem {}
}

mod derives {
    #![no_implicit_prelude]
    #![allow(unused_imports)]
    use super::shadowing::*;

    #[derive(::tandem::Payload)]
    pub struct Config {
        pub label: ::std::string::String,
    }

    #[derive(::tandem::Transitions)]
    #[transitions(setup = Config)]
    pub enum Generator {
        #[transition(input = ::core::primitive::u64, replay)]
        BeginRun,
        // `item` and `end`: the generated pool compiles here too.
        #[transition(input = ::core::primitive::u64, output = ::std::string::String, item)]
        Event,
        #[transition(output = ::core::option::Option<::core::primitive::u32>, end)]
        EndRun,
        Type,
    }

    pub struct Worker {
        pub label: ::std::string::String,
        pub run: ::core::primitive::u64,
    }

    impl GeneratorWorker for Worker {
        fn begin_run(
            &mut self,
            _: &mut ::tandem::Context,
            run: ::core::primitive::u64,
        ) -> ::core::result::Result<(), ::tandem::WorkerError> {
            self.run = run;
            ::core::result::Result::Ok(())
        }

        fn event(
            &mut self,
            _: &mut ::tandem::Context,
            id: ::core::primitive::u64,
        ) -> ::core::result::Result<::std::string::String, ::tandem::WorkerError> {
            ::core::result::Result::Ok(::std::format!("{} {} {id}", self.label, self.run))
        }

        fn end_run(
            &mut self,
            _: &mut ::tandem::Context,
        ) -> ::core::result::Result<
            ::core::option::Option<::core::primitive::u32>,
            ::tandem::WorkerError,
        > {
            ::core::result::Result::Ok(::core::option::Option::None)
        }

        fn r#type(
            &mut self,
            _: &mut ::tandem::Context,
        ) -> ::core::result::Result<(), ::tandem::WorkerError> {
            ::core::result::Result::Ok(())
        }
    }

    /// Uses every generated controller method, so that their bodies are checked too.
    pub fn drive(
        controller: &mut GeneratorController,
    ) -> ::core::result::Result<::std::string::String, ::tandem::ChannelError> {
        controller.begin_run(1, &7)?;
        controller.end_run(3)?;
        controller.r#type(4)?;
        let _ = controller.restarts();
        controller.set_restart_policy(::tandem::RestartPolicy::NEVER);
        let _ = controller.recovered_failures();
        let _ = controller.typed().restarts();
        let _ = controller.typed_mut().controller();
        controller.restart()?;
        ::core::result::Result::Ok(controller.event(2, &9)?.output)
    }

    /// `spawn` and `shutdown`, checked but not run.
    pub fn lifecycle(
        config: &Config,
    ) -> ::core::result::Result<
        ::core::option::Option<::tandem::process::ExitReason>,
        ::tandem::ChannelError,
    > {
        let controller = GeneratorController::spawn(
            ::std::process::Command::new("worker"),
            0,
            <::tandem::Options as ::core::default::Default>::default(),
            config,
        )?;
        ::core::result::Result::Ok(controller.shutdown())
    }
}

#[test]
fn the_generated_worker_and_controller_work_without_the_prelude() {
    use ::core::assert_eq;
    use ::tandem::Transitions;
    use derives::GeneratorWorker;

    assert_eq!(
        derives::Generator::NAMES,
        ["begin_run", "event", "end_run", "type"]
    );
    assert_eq!(derives::Generator::REPLAY, [true, false, false, false]);
    assert_eq!(derives::Generator::EndRun.kind(), 2);
    let _: fn(
        &mut derives::GeneratorController,
    ) -> ::core::result::Result<::std::string::String, ::tandem::ChannelError> = derives::drive;
    // Not started as a worker: `serve_from_env` returns at once without calling `make`.
    let served = derives::Worker::serve_from_env(|config: derives::Config| {
        ::core::result::Result::Ok(derives::Worker {
            label: config.label,
            run: 0,
        })
    });
    assert_eq!(served.ok(), ::core::option::Option::Some(false));
}
