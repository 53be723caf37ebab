//! Fault injection: a seeded workload where the N-th mutating store operation
//! fails, for every N. The engine returns errors (no panic), stays latched
//! afterwards, and reopening over either the live or the durable state
//! recovers a consistent prefix of what was written.

#[path = "rocketmq_engine_support.rs"]
mod support;

use std::rc::Rc;

use rocketlog_core::engine::commitlog::{CommitLog, EngineError};
use rocketlog_core::store::StoreErrorKind;
use rocketlog_tests::crash::{CrashStore, Tear};
use rocketlog_tests::fault::{Fault, FaultStore};
use support::{Shared, Trace, check, namer, run, small_config, workload};

#[test]
fn every_failing_operation_is_reported_and_recovered_from() {
    let mut runs = 0;
    let mut violations = Vec::new();
    for seed in [0u64, 1, 2, 3] {
        let ops = workload(seed + 100, 30);
        let probe = Rc::new(FaultStore::counting(CrashStore::new(512)));
        let mut e = CommitLog::open(
            Shared(probe.clone()),
            small_config(seed),
            namer(),
            support::T0,
        )
        .unwrap();
        let mut full = Trace::default();
        run(&mut e, &ops, &mut full).unwrap();
        let total = probe.ops();
        for n in 1..=total {
            for fault in [Fault::Io, Fault::NoSpace] {
                runs += 1;
                let fs = Rc::new(FaultStore::new(CrashStore::new(512), Some(n), fault, false));
                let mut t = Trace::default();
                match CommitLog::open(Shared(fs.clone()), small_config(seed), namer(), support::T0)
                {
                    Err(EngineError::Store(_)) => {}
                    Err(x) => violations.push(format!("seed {seed} op {n}: open: {x}")),
                    Ok(mut e) => {
                        if run(&mut e, &ops, &mut t).is_ok() {
                            violations.push(format!("seed {seed} op {n}: no error reported"));
                        }
                        // Latched: later mutations fail without touching the store.
                        let before = fs.ops();
                        match e.flush() {
                            Err(EngineError::Store(s)) if s.kind == StoreErrorKind::PreviousIo => {}
                            other => violations.push(format!(
                                "seed {seed} op {n}: flush after failure: {other:?}"
                            )),
                        }
                        if fs.ops() != before {
                            violations
                                .push(format!("seed {seed} op {n}: latched engine still wrote"));
                        }
                    }
                }
                assert!(fs.fired());
                t.records = full.records.clone();
                // Reopen over what the process left (live) and over what a
                // crash right after would leave (durable only).
                let inner = fs.inner();
                for img in [inner.live_image(), inner.crash_image(Tear::LoseUnsynced, n)] {
                    match CommitLog::open(img, small_config(seed), namer(), support::T0 + 1_000_000)
                    {
                        Ok(e) => {
                            for x in check(&e, &t) {
                                violations.push(format!("seed {seed} op {n} {fault:?}: {x}"));
                            }
                        }
                        Err(x) => violations.push(format!("seed {seed} op {n}: reopen: {x}")),
                    }
                }
            }
        }
    }
    println!(
        "rocketmq fault injection: {runs} runs, {} violations",
        violations.len()
    );
    for v in violations.iter().take(20) {
        println!("  {v}");
    }
    assert!(runs > 200);
    assert!(violations.is_empty());
}
