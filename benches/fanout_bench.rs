//! The fan-out benchmark: one T0 command on one lab host against the same command on a group
//! of 20 lab hosts, through the real `praxis serve`, and writes the figures to
//! `docs/performance.md`. Run with `cargo bench --bench fanout_bench` (root: it starts the
//! sshd lab of `tests/lab/lab-sshd.sh`; without root or sshd it says so and writes nothing).

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_macros,
    reason = "a benchmark reports on stdout"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "a benchmark spawns the binary it measures and the lab it measures against"
)]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
mod server;

use serde_json::{Value, json};
use server::{INITIALIZE, INITIALIZED, Server, init, millis, praxis, state_root, stats};

const HOSTS: usize = 20;
const PORT: u16 = 2700;

/// The sshd lab, stopped (and its user removed) on drop.
struct Lab {
    directory: PathBuf,
}

impl Lab {
    fn up() -> Option<Lab> {
        let directory = PathBuf::from(format!("/run/praxis-bench-fanout-{}", std::process::id()));
        let output = Command::new("bash")
            .arg(script())
            .args(["up", "-n", &HOSTS.to_string(), "--port", &PORT.to_string()])
            .arg("--dir")
            .arg(&directory)
            .output()
            .ok()?;
        if !output.status.success() {
            eprintln!(
                "fanout_bench: the sshd lab did not start (it needs root, openssh-server and sudo): {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return None;
        }
        Some(Lab { directory })
    }

    /// An inventory of every host in group `fleet`.
    fn inventory(&self) -> String {
        let known_hosts =
            std::fs::read_to_string(self.directory.join("client/known_hosts")).unwrap();
        let mut inventory = String::new();
        for line in std::fs::read_to_string(self.directory.join("hosts.tsv"))
            .unwrap()
            .lines()
        {
            let fields: Vec<&str> = line.split('\t').collect();
            let (name, address, port) = (fields[0], fields[1], fields[2]);
            let pattern = format!("[{address}]:{port} ");
            let key = known_hosts
                .lines()
                .find_map(|line| line.strip_prefix(&pattern))
                .unwrap();
            writeln!(
                inventory,
                "[hosts.{name}]\nhost_type = \"linux\"\ngroups = [\"fleet\"]\nssh = {{ address = \"{address}\", port = {port}, user = \"aiops\", host_key = \"{key}\" }}\n"
            )
            .unwrap();
        }
        inventory
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        drop(
            Command::new("bash")
                .arg(script())
                .args(["down", "--purge", "--dir"])
                .arg(&self.directory)
                .output(),
        );
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab-sshd.sh")
}

/// One tools/call, timed; panics unless every host answered without a refusal.
fn timed_call(
    server: &mut Server,
    id: u64,
    tool: &str,
    arguments: &Value,
    hosts: usize,
) -> Duration {
    let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}});
    let started = Instant::now();
    server.send(&request.to_string());
    let answer = server.receive();
    let elapsed = started.elapsed();
    let result = &answer["result"];
    assert_ne!(result["isError"], true, "{answer}");
    if hosts > 1 {
        assert_eq!(result["structuredContent"]["succeeded"], hosts, "{answer}");
    }
    elapsed
}

struct Pair {
    one: server::Stats,
    group: server::Stats,
}

impl Pair {
    fn ratio(&self) -> f64 {
        self.group.p50.as_secs_f64() / self.one.p50.as_secs_f64()
    }
}

/// `samples` calls of `tool` on one host and on the group, alternating, after `warm_up` group
/// calls (so multiplexed masters exist when they are meant to).
fn measure(
    server: &mut Server,
    tool: &str,
    arguments: &Value,
    samples: usize,
    warm_up: usize,
) -> Pair {
    let mut one_host = arguments.clone();
    one_host["host"] = json!("lab01");
    let mut group = arguments.clone();
    group["group"] = json!("fleet");
    let mut id = 1_000;
    for _ in 0..warm_up {
        id += 1;
        timed_call(server, id, tool, &group, HOSTS);
    }
    let (mut ones, mut groups) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        id += 2;
        ones.push(timed_call(server, id, tool, &one_host, 1));
        groups.push(timed_call(server, id + 1, tool, &group, HOSTS));
    }
    Pair {
        one: stats(ones),
        group: stats(groups),
    }
}

fn start(root: &Path, identity: &Path, persist: &str) -> Server {
    let mut server = Server::start_with(
        root,
        &[
            ("PRAXIS_SSH_IDENTITY_FILE", identity.to_str().unwrap()),
            ("PRAXIS_SSH_CONTROL_PERSIST_SECONDS", persist),
        ],
    );
    server.send(INITIALIZE);
    server.receive();
    server.send(INITIALIZED);
    server
}

fn main() {
    if !Path::new("/usr/sbin/sshd").exists() {
        eprintln!("fanout_bench: no /usr/sbin/sshd (make deps installs it); nothing measured");
        return;
    }
    let Some(lab) = Lab::up() else { return };
    let root = state_root("fanout");
    init(&root);
    let file = root.join("fleet.toml");
    std::fs::write(&file, lab.inventory()).unwrap();
    let imported = praxis(&root, &["fleet", "import", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let identity = lab.directory.join("client/id_ed25519");
    let uptime = json!({"adapter": "ssh", "action": "uptime", "dry_run": false});
    let probe = json!({"probe": "os_release"});

    // Multiplexed (the default): masters are up after the warm-up call.
    let mut server = start(&root, &identity, "60");
    let warm = measure(&mut server, "run_action", &uptime, 15, 2);
    let warm_collect = measure(&mut server, "collect", &probe, 10, 0);
    server.stop();
    // Without multiplexing every call is a new ssh connection (key exchange, authentication).
    let mut server = start(&root, &identity, "0");
    let cold = measure(&mut server, "run_action", &uptime, 8, 0);
    server.stop();

    let mut body = String::new();
    writeln!(
        body,
        "Release profile, praxis {}.\n",
        env!("CARGO_PKG_VERSION")
    )
    .unwrap();
    writeln!(body, "Machine: {}.\n", common::machine()).unwrap();
    writeln!(
        body,
        "Method: {HOSTS} sshd hosts of `tests/lab/lab-sshd.sh` on loopback (127.0.10.1–{HOSTS}), \
         all on this machine; one `praxis serve` (release) over stdio; each sample is one \
         `tools/call` round trip, one host (`lab01`) and the group of {HOSTS} alternating; \
         `fanout_concurrency` 32 (the default). Only p50 is compared.\n"
    )
    .unwrap();
    writeln!(
        body,
        "| call | one host p50 | {HOSTS} hosts p50 | ratio | target | samples |"
    )
    .unwrap();
    writeln!(body, "| --- | --- | --- | --- | --- | --- |").unwrap();
    for (label, pair) in [
        (
            "`run_action uptime`, multiplexed master per host (default)",
            &warm,
        ),
        (
            "`collect os_release`, multiplexed (parse + facts + record per host)",
            &warm_collect,
        ),
        (
            "`run_action uptime`, a new ssh connection per call (`ssh_control_persist_seconds = 0`)",
            &cold,
        ),
    ] {
        writeln!(
            body,
            "| {label} | {} | {} | {:.1}× | < 2× | {} + {} |",
            millis(pair.one.p50),
            millis(pair.group.p50),
            pair.ratio(),
            pair.one.samples,
            pair.group.samples
        )
        .unwrap();
    }
    print!("{body}");
    common::write_section("fanout", &body);
    drop(lab);
    drop(std::fs::remove_dir_all(&root));
}
