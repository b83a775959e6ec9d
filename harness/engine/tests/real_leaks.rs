//! Real runs leave nothing behind (issue 7): no file descriptor and no task
//! outlives a run, however many runs a process makes (`meshsim up` and CI
//! suites run many). Alone in its binary: other tests' sockets would move
//! the descriptor count.

#[path = "support/engine.rs"]
mod support;

use std::time::Duration;

use meshsim_engine::run::{leftover_tasks, run_mitigation_real};

/// The open descriptors of this process (`/proc/self/fd`).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd lists this process's descriptors")
        .count()
}

#[test]
fn many_real_runs_leave_no_descriptor_and_no_task_behind() {
    let scenario = meshsim_engine::Scenario::load(&support::catalogue_path("alb-ip-rotation.yaml"))
        .expect("the catalogue scenario loads");
    // Warm up: the first run starts the precise clock thread, the runtime's
    // shared pieces and the logger, which live for the process.
    let none = scenario.mitigation("none").expect("none");
    let resolution = scenario
        .mitigation("resolution-dns")
        .expect("resolution-dns");
    let short = Duration::from_secs(20);
    run_mitigation_real(&scenario, none, 7, short, Some(0.02)).expect("runs");
    let before = open_fds();
    for i in 0..6 {
        let m = if i % 2 == 0 { none } else { resolution };
        let r = run_mitigation_real(&scenario, m, 7, short, Some(0.02)).expect("runs");
        assert!(r.requests > 0, "run {i} measured nothing");
    }
    assert_eq!(open_fds(), before, "descriptors left open by six real runs");
    assert_eq!(leftover_tasks(), 0, "tasks alive after a world shut down");
}
