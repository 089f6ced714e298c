//! The engine side as a library (`netfence::engine::stacks::stack`): docs/LIBRARY.md's example run for
//! real, and the drop guard. Needs Docker + Compose v2 (see support).

use netfence::engine::{Stack, StackOptions};

use crate::support::*;

#[allow(dead_code)] // its `main` is the example binary's
#[path = "../../examples/library.rs"]
mod example;

#[test]
fn the_library_example_reaches_a_published_port_and_leaves_nothing() {
    let Some(e2e) = E2e::start("lib") else { return };
    let dir = e2e.fixture("small");
    let answer = example::greet(dir.join("compose.yml"), "app", 8080, Some(e2e.id.clone()))
        .unwrap_or_else(|e| panic!("the example fails: {e}"));
    assert_eq!(answer, "hello-app");
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn a_dropped_stack_is_torn_down_even_inside_an_async_runtime() {
    let Some(e2e) = E2e::start("libdrop") else {
        return;
    };
    let dir = e2e.fixture("small");
    let opts = StackOptions {
        files: vec![dir.join("compose.yml")],
        run_id: Some(e2e.id.clone()),
        ..StackOptions::default()
    };
    // As from a `#[tokio::test]`: blocking on another runtime here would panic.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let info_file = rt.block_on(async {
        let stack = Stack::up(opts.clone()).expect("the stack comes up");
        assert_eq!(stack.info().services.len(), 2);
        assert!(stack.address("app", 8080).is_some(), "{:?}", stack.info());
        let live = leftovers_of(&format!("run:{}", e2e.id));
        let containers = live.iter().filter(|o| o.starts_with("container ")).count();
        assert_eq!(containers, 2, "{live:?}");
        // Its run id is held while it is up.
        match Stack::up(opts.clone()) {
            Err(netfence::Error::RunIdHeld { run_id, .. }) => assert_eq!(run_id, e2e.id),
            Err(e) => panic!("refused for the wrong reason: {e}"),
            Ok(_) => panic!("a second stack with a held run id came up"),
        }
        let (_, file) = stack
            .exports()
            .iter()
            .find(|(k, _)| k == "NETFENCE_RUN_INFO")
            .expect("the run info is exported")
            .clone();
        std::path::PathBuf::from(file)
    });
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
    assert!(!info_file.exists(), "the run directory goes with the stack");
    // Once torn down, the run id is free again.
    Stack::up(opts).expect("the id is free").down().unwrap();
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}
