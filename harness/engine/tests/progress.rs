//! The progress hook: what it is told, and that it never changes a result.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_engine::{Progress, RunEvent, RunOptions, Scenario};

const TWO_MITIGATIONS: &str = "\
version: 1
name: tiny
duration: 10s
world:
  external:
    - { name: api, address: 10.1.0.1:80 }
  pods:
    - name: app
      app: { client: go, calls: [{ url: \"http://10.1.0.1/\", rate: 20/s, arrival: constant }] }
mitigations:
  - name: none
  - name: again
expect:
  - { mitigation: none, errors: \"== 0\" }
  - { mitigation: again, errors: \"== 0\" }
";

/// A hook that keeps every event, and the list.
fn recorder() -> (Progress, Arc<Mutex<Vec<RunEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let keep = events.clone();
    let hook = Progress::new(move |e| keep.lock().unwrap().push(e.clone()));
    (hook, events)
}

#[test]
fn each_mitigation_reports_start_every_simulated_second_in_order_then_finish() {
    let s = Scenario::parse(TWO_MITIGATIONS, Path::new("tiny.yaml")).unwrap();
    let (hook, events) = recorder();
    let opts = RunOptions {
        progress: Some(hook),
        ..RunOptions::default()
    };
    meshsim_engine::run(&s, &opts, |_| {}).unwrap();
    let events = events.lock().unwrap();
    let mut seconds = vec![Vec::new(), Vec::new()];
    let mut steps = Vec::new();
    for e in events.iter() {
        match e {
            RunEvent::MitigationStarted {
                index,
                count,
                name,
                duration,
            } => {
                assert_eq!((*count, *duration), (2, Duration::from_secs(10)));
                steps.push(format!("start {index} {name}"));
            }
            RunEvent::SimulatedTime { index, reached } => seconds[*index].push(reached.as_secs()),
            RunEvent::MitigationFinished { index, name, .. } => {
                steps.push(format!("finish {index} {name}"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        steps,
        [
            "start 0 none",
            "finish 0 none",
            "start 1 again",
            "finish 1 again"
        ]
    );
    for s in &seconds {
        // A request ends every 50 ms: each second from 1 to 9 is reached,
        // once, in order; nothing past the load phase.
        assert_eq!(s[..9], [1, 2, 3, 4, 5, 6, 7, 8, 9], "{s:?}");
        assert!(s.len() <= 10 && s.iter().all(|x| *x <= 10), "{s:?}");
    }
}

/// The hook observes only: a run told to a hook is byte-identical to one
/// that is not (the bar of `meshsim run` cannot change a report).
#[test]
fn a_run_with_a_progress_hook_gives_byte_identical_json() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/alb-ip-rotation.yaml");
    let s = Scenario::load(&path).unwrap();
    let opts = RunOptions {
        mitigations: vec!["none".into(), "resolution-dns+retries".into()],
        duration: Some(Duration::from_secs(420)),
        ..RunOptions::default()
    };
    let plain = meshsim_report::json(&meshsim_engine::run(&s, &opts, |_| {}).unwrap());
    let (hook, events) = recorder();
    let told = RunOptions {
        progress: Some(hook),
        ..opts
    };
    let with_hook = meshsim_report::json(&meshsim_engine::run(&s, &told, |_| {}).unwrap());
    assert!(plain == with_hook, "the hook changed the result");
    assert!(events.lock().unwrap().len() > 400, "the hook was told");
}
