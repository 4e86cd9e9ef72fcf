//! Malformed input never kills the server: each bad line gets an error, the next is served,
//! and resident memory stays bounded.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Session, StateDir, assert_json_rpc, memory_kib, refusal_code};

fn error_code(message: &Value) -> i64 {
    message
        .pointer("/error/code")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("not an error: {message}"))
}

fn assert_still_serving(session: &mut Session) {
    let pong = session.request("ping", json!({}));
    assert!(pong.get("result").is_some(), "ping after bad input: {pong}");
}

#[test]
fn every_kind_of_bad_line_gets_an_error_and_the_next_request_is_served() {
    let directory = StateDir::initialised("malformed");
    let mut session = Session::initialised(&directory);
    let timeout = Duration::from_secs(60);

    session.send_line("this is not json");
    assert_eq!(error_code(&session.next_message(timeout).unwrap()), -32700);
    assert_still_serving(&mut session);

    session.send_bytes(b"\xff\xfe{\"jsonrpc\":\"2.0\"}\n");
    assert_eq!(error_code(&session.next_message(timeout).unwrap()), -32700);
    assert_still_serving(&mut session);

    session.send_line(&"[".repeat(100_000));
    let nested = session.next_message(timeout).unwrap();
    assert_eq!(error_code(&nested), -32700);
    assert!(
        nested["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested"),
        "{nested}"
    );
    assert_still_serving(&mut session);

    session.send_line(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
    assert_eq!(error_code(&session.next_message(timeout).unwrap()), -32700);
    assert_still_serving(&mut session);

    let deep_arguments = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":\"deep\",\"method\":\"tools/call\",\"params\":{{\"name\":\"server_status\",\"arguments\":{{\"a\":{}1{}}}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    session.send_line(&deep_arguments);
    assert_eq!(error_code(&session.next_message(timeout).unwrap()), -32700);
    assert_still_serving(&mut session);

    session.send_line("[1,2,3]");
    assert_eq!(error_code(&session.next_message(timeout).unwrap()), -32600);
    session.send_line("42");
    assert_eq!(error_code(&session.next_message(timeout).unwrap()), -32600);
    session.send_line(r#"{"jsonrpc":"1.0","id":9,"method":"ping"}"#);
    let old = session.next_message(timeout).unwrap();
    assert_eq!(error_code(&old), -32600);
    assert_eq!(old["id"], json!(9));
    session.send_line(r#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":"nope"}"#);
    let shape = session.next_message(timeout).unwrap();
    assert!(shape.get("error").is_some(), "{shape}");
    assert_eq!(shape["id"], json!(10));
    session.send_line("   ");
    assert_still_serving(&mut session);

    let unknown = session.request("no/such/method", json!({}));
    assert_eq!(error_code(&unknown), -32601);
    assert_still_serving(&mut session);

    for arguments in [
        json!({"reason": 5}),
        json!({"reason": ["a"]}),
        json!({"reason": "x".repeat(501)}),
        json!({"reason": "   "}),
        json!({"reason": "ok", "extra": true}),
    ] {
        let result = session.call("emergency_stop", arguments);
        assert_eq!(refusal_code(&result), Some("invalid-arguments"), "{result}");
    }
    let result = session.call("server_status", json!({"verbose": "false"}));
    assert_eq!(refusal_code(&result), Some("invalid-arguments"));
    assert_still_serving(&mut session);

    let (code, transcript) = session.finish();
    assert_eq!(code, 0);
    for line in &transcript {
        assert_json_rpc(line);
    }
    let (code, verdict) = directory.verify();
    assert_eq!(code, 0, "{verdict}");
}

#[test]
fn oversized_lines_are_refused_without_growing_memory() {
    let directory = StateDir::initialised("oversized");
    let mut session = Session::initialised(&directory);
    let timeout = Duration::from_secs(120);
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":\"big\",\"method\":\"tools/call\",\"params\":{{\"name\":\"emergency_stop\",\"arguments\":{{\"reason\":\"{}\"}}}}}}",
        "A".repeat(20 * 1024 * 1024)
    );
    let mut resident_after = Vec::new();
    for _ in 0..8 {
        session.send_line(&huge);
        let refused = session.next_message(timeout).unwrap();
        assert_eq!(error_code(&refused), -32600);
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too large"),
            "{refused}"
        );
        assert_still_serving(&mut session);
        resident_after.push(memory_kib(session.child.id()));
    }
    // The kill switch was not tripped: the oversized call never reached the actuator.
    assert!(!directory.state().join("KILL").exists());
    // Bounded: 160 MiB of input passed through, and memory stayed under a fixed ceiling that
    // does not depend on how much was sent. The line buffer is capped at max_message_bytes
    // (16 MiB) and the rest of a long line is skipped, never buffered; what remains above the
    // idle size is allocator slack from freed line buffers.
    for (rss, peak) in &resident_after {
        assert!(
            *rss < 80 * 1024,
            "RSS over 80 MiB: {resident_after:?} (KiB)"
        );
        assert!(
            *peak < 96 * 1024,
            "peak RSS over 96 MiB: {resident_after:?} (KiB)"
        );
    }
    let (code, _) = session.finish();
    assert_eq!(code, 0);
}

#[test]
fn a_client_that_floods_requests_and_reads_nothing_is_held_back() {
    let directory = StateDir::initialised("flood");
    let mut session = Session::initialised(&directory);
    let pid = session.child.id();
    let mut flood = String::new();
    for id in 0..20_000 {
        flood.push_str(&json!({"jsonrpc": "2.0", "id": format!("flood-{id}"), "method": "tools/call", "params": {"name": "server_status", "arguments": {}}}).to_string());
        flood.push('\n');
    }
    let mut stdin = session.take_stdin();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(flood.as_bytes()).unwrap();
        stdin
    });
    std::thread::sleep(Duration::from_secs(3));
    // The server read at most a bounded number of requests ahead, so the writer is still
    // blocked on a full pipe and memory did not grow with the flood.
    assert!(
        !writer.is_finished(),
        "praxis swallowed 2 MB of requests without answering them"
    );
    let (rss, _) = memory_kib(pid);
    assert!(rss < 64 * 1024, "RSS {rss} KiB under a flood");
    let mut answered = 0;
    while answered < 20_000 {
        let message = session
            .next_message(Duration::from_secs(60))
            .expect("every flooded call is answered");
        if message.get("result").is_some() {
            answered += 1;
        }
    }
    session.give_stdin(writer.join().unwrap());
    assert_eq!(session.finish().0, 0);
}
