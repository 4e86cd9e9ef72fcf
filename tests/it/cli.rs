//! The command line: complete help, one-line errors with the right exit codes, init modes,
//! kill/resume, export.

use std::os::unix::fs::PermissionsExt;

use crate::support::{StateDir, run_in_terminal, support_file};

fn assert_one_line_failure(output: &std::process::Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.starts_with("praxis: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn every_subcommand_has_complete_help() {
    let directory = StateDir::empty("help");
    let top = directory.run(&["--help"]);
    assert!(top.status.success());
    let text = String::from_utf8_lossy(&top.stdout);
    for command in ["serve", "init", "doctor", "kill", "resume", "audit"] {
        assert!(text.contains(command), "--help does not list {command}");
    }
    for path in [
        vec!["serve"],
        vec!["init"],
        vec!["doctor"],
        vec!["kill"],
        vec!["resume"],
        vec!["audit"],
        vec!["audit", "verify"],
        vec!["audit", "show"],
        vec!["audit", "export"],
    ] {
        let mut arguments = path.clone();
        arguments.push("--help");
        let output = directory.run(&arguments);
        assert!(output.status.success(), "{path:?} --help failed");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            help.contains("Usage:") && help.lines().count() > 4,
            "{path:?}: {help}"
        );
    }
    let version = directory.run(&["--version"]);
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("praxis "));
}

#[test]
fn bad_configuration_is_one_line_and_exit_2() {
    let directory = StateDir::initialised("badconfig");
    let output = directory
        .praxis(&["doctor"])
        .env("PRAXIS_MODE", "yolo")
        .output()
        .unwrap();
    assert_one_line_failure(&output, 2, "unknown mode `yolo`");
    let output = directory
        .praxis(&["serve"])
        .env("PRAXIS_MDOE", "open")
        .output()
        .unwrap();
    assert_one_line_failure(&output, 2, "unknown environment variable PRAXIS_MDOE");
    let config = directory.root.join("praxis.toml");
    std::fs::write(&config, "mode = \"open\"\nstate_dri = \"/tmp\"\n").unwrap();
    let output = directory
        .praxis(&["--config", config.to_str().unwrap(), "doctor"])
        .output()
        .unwrap();
    assert_one_line_failure(&output, 2, "unknown field `state_dri`");
    std::fs::write(&config, "mode = [\n").unwrap();
    let output = directory
        .praxis(&["serve"])
        .env("PRAXIS_CONFIG", &config)
        .output()
        .unwrap();
    assert_one_line_failure(&output, 2, "is invalid");
    let output = directory
        .praxis(&["doctor"])
        .env("PRAXIS_CONFIG", "/nonexistent/praxis.toml")
        .output()
        .unwrap();
    assert_one_line_failure(&output, 2, "cannot read config file");
    let output = directory.run(&["audit", "export", "--format", "xml"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn unusable_state_is_one_line_and_exit_1() {
    let unwritable = StateDir::empty("unwritable");
    let output = unwritable
        .praxis(&["init"])
        .env("PRAXIS_STATE_DIR", "/proc/praxis-state")
        .output()
        .unwrap();
    assert_one_line_failure(&output, 1, "cannot create the state directory");

    let missing = StateDir::empty("missing");
    let output = missing.run(&["serve"]);
    assert_one_line_failure(&output, 1, "run `praxis init` first");

    let corrupt = StateDir::initialised("corrupt");
    std::fs::write(corrupt.database(), vec![0x5a; 8192]).unwrap();
    for command in [
        vec!["serve"],
        vec!["audit", "verify"],
        vec!["kill", "--reason", "x"],
    ] {
        let output = corrupt.run(&command);
        assert_one_line_failure(&output, 1, "not a database");
    }
    let doctor = corrupt.run(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(1));
}

#[test]
fn init_creates_private_state() {
    let directory = StateDir::initialised("modes");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&directory.state()), 0o700);
    assert_eq!(mode(&directory.database()), 0o600);
    let again = directory.run(&["init"]);
    assert!(again.status.success(), "init is idempotent");
    let doctor = directory.run(&["doctor"]);
    assert!(
        doctor.status.success(),
        "{}",
        String::from_utf8_lossy(&doctor.stdout)
    );
}

#[test]
fn doctor_flags_exposed_adapter_secrets_and_missing_binaries() {
    use std::os::unix::fs::PermissionsExt;
    let directory = StateDir::initialised("doctor-adapters");
    let key = directory.root.join("id_ed25519");
    std::fs::write(&key, "not a real key").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let talosconfig = directory.root.join("talosconfig");
    std::fs::write(&talosconfig, "context: lab").unwrap();
    std::fs::set_permissions(&talosconfig, std::fs::Permissions::from_mode(0o600)).unwrap();
    let doctor = |binary: &str| {
        directory
            .praxis(&["doctor"])
            .env("PRAXIS_SSH_IDENTITY_FILE", &key)
            .env("PRAXIS_TALOSCONFIG_FILE", &talosconfig)
            .env("PRAXIS_TALOSCTL_BINARY", binary)
            .output()
            .unwrap()
    };
    let exposed = doctor("/nonexistent/talosctl");
    let report = String::from_utf8_lossy(&exposed.stdout);
    assert_eq!(exposed.status.code(), Some(1), "{report}");
    assert!(
        report.contains("PROBLEM ssh adapter") && report.contains("chmod 600"),
        "{report}"
    );
    assert!(
        report.contains("PROBLEM talosctl adapter: /nonexistent/talosctl not found"),
        "{report}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let healthy = doctor("/bin/true");
    let report = String::from_utf8_lossy(&healthy.stdout);
    assert!(healthy.status.success(), "{report}");
    assert!(
        report.contains("ok      talosctl adapter: /bin/true"),
        "{report}"
    );
}

#[test]
fn resume_refuses_without_a_terminal_and_works_in_one() {
    let directory = StateDir::initialised("resume");
    let kill = directory.run(&["kill", "--reason", "maintenance window"]);
    assert!(kill.status.success());
    let sentinel = directory.state().join("KILL");
    assert!(sentinel.exists());
    let output = directory.run(&["resume"]);
    assert_one_line_failure(&output, 1, "must be run by an operator in a terminal");
    assert!(
        sentinel.exists(),
        "a refused resume must leave the switch engaged"
    );
    let output = run_in_terminal(&directory, "resume --reason done");
    assert!(output.status.success(), "{output:?}");
    assert!(!sentinel.exists());
    let records = directory.records();
    let tools: Vec<&str> = records
        .iter()
        .filter_map(|record| record["tool"].as_str())
        .collect();
    assert_eq!(tools, vec!["cli.init", "cli.kill", "cli.resume"]);
}

#[test]
fn the_export_reverifies_outside_praxis() {
    let directory = StateDir::initialised("export");
    let mut session = crate::support::Session::initialised(&directory);
    session.call("server_status", serde_json::json!({}));
    session.call(
        "emergency_stop",
        serde_json::json!({"reason": "caf\u{e9} \u{1F525} \"quoted\"\n\tline"}),
    );
    let (code, _) = session.finish();
    assert_eq!(code, 0);
    let export = directory.root.join("audit.jsonl");
    let output = directory.run(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--output",
        export.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    assert_eq!(
        std::fs::metadata(&export).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let verified = std::process::Command::new("python3")
        .arg(support_file("verify_export.py"))
        .arg(&export)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&verified.stdout).trim(), "ok 6");
    // Tamper with the exported copy: the outside verifier notices too.
    let text =
        std::fs::read_to_string(&export)
            .unwrap()
            .replacen("server_status", "server_statuz", 1);
    std::fs::write(&export, text).unwrap();
    let verified = std::process::Command::new("python3")
        .arg(support_file("verify_export.py"))
        .arg(&export)
        .output()
        .unwrap();
    assert_eq!(verified.status.code(), Some(1));
    let show = directory.run(&["audit", "show", "--tail", "3"]);
    assert!(show.status.success());
    assert_eq!(String::from_utf8_lossy(&show.stdout).lines().count(), 3);
}

#[test]
fn doctor_reach_connects_once_to_every_inventory_host() {
    let directory = StateDir::initialised("doctor-reach");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        spare.local_addr().unwrap().port()
    };
    directory.import_inventory(&format!(
        "[hosts.up]\nhost_type = \"linux\"\nssh = {{ address = \"127.0.0.1\", port = {open} }}\n\n\
         [hosts.down]\nhost_type = \"linux\"\nssh = {{ address = \"127.0.0.1\", port = {closed} }}\n\n\
         [hosts.bmc-meta]\nhost_type = \"bmc\"\nredfish = {{ url = \"https://169.254.169.254/redfish/v1/Systems/1\" }}\n\n\
         [hosts.vpc]\nhost_type = \"cloud\"\n"
    ));
    let without = directory.run(&["doctor"]);
    assert!(
        !String::from_utf8_lossy(&without.stdout).contains("reach "),
        "doctor touches no host unless asked"
    );
    let output = directory.run(&["doctor", "--reach"]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("ok      reach up: 127.0.0.1:{open} answers")),
        "{report}"
    );
    assert!(
        report.contains(&format!("PROBLEM reach down: 127.0.0.1:{closed}")),
        "{report}"
    );
    assert!(
        report.contains("PROBLEM reach bmc-meta: the BMC's address is refused"),
        "the egress filter holds for doctor too: {report}"
    );
    assert!(
        report.contains("ok      reach vpc: nothing to reach"),
        "{report}"
    );
    drop(listener);
}
