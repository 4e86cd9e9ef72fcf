//! Shutdown: SIGTERM and end of input both exit 0 and record the session's end.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Session, StateDir};

#[test]
fn sigterm_exits_zero_and_records_the_end_of_the_session() {
    let directory = StateDir::initialised("sigterm");
    let mut session = Session::initialised(&directory);
    session.call("server_status", json!({}));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &session.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = session.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "praxis serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(exit.code(), Some(0));
    let records = directory.records();
    let end = records.last().unwrap();
    assert_eq!(end["decision"], "session-end");
    assert_eq!(end["args"]["reason"], "SIGTERM");
    assert_eq!(directory.verify().0, 0);
}

#[test]
fn end_of_input_before_initialize_exits_zero() {
    let directory = StateDir::initialised("early-eof");
    let session = Session::start(&directory);
    let (code, transcript) = session.finish();
    assert_eq!(code, 0);
    assert!(transcript.is_empty());
    let records = directory.records();
    assert_eq!(records.last().unwrap()["args"]["reason"], "end of input");
}
