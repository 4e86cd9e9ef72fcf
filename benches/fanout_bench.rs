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

    /// An inventory of every host in group `fleet`; with `via_proxy`, each host is reached at
    /// its latency proxy's address (127.0.11.N instead of 127.0.10.N).
    fn inventory(&self, via_proxy: bool) -> String {
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
            let address = if via_proxy {
                address.replace("127.0.10.", "127.0.11.")
            } else {
                address.to_owned()
            };
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

/// `tests/lab/latency-proxy.py` in front of every lab host, killed on drop.
struct Proxy(std::process::Child);

impl Proxy {
    fn start(one_way: Duration) -> Proxy {
        let pairs: Vec<String> = (1..=HOSTS)
            .map(|index| format!("127.0.11.{index}:{PORT}=127.0.10.{index}:{PORT}"))
            .collect();
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/latency-proxy.py"))
            .arg("--delay-ms")
            .arg(one_way.as_millis().to_string())
            .args(&pairs)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready.trim(), "ready", "the latency proxy did not start");
        Proxy(child)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        drop(self.0.kill());
        drop(self.0.wait());
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
    /// CPU time the whole machine spent per group call (every process: praxis, its ssh
    /// clients, the 20 sshds and what they ran).
    machine_cpu_per_group_call: Duration,
    /// Of that, praxis itself and the ssh clients it waited for.
    praxis_cpu_per_group_call: Duration,
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
    let (mut machine, mut own) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..samples {
        id += 2;
        ones.push(timed_call(server, id, tool, &one_host, 1));
        let (machine_before, own_before) = (machine_cpu(), process_cpu(server.child.id()));
        groups.push(timed_call(server, id + 1, tool, &group, HOSTS));
        machine += machine_cpu().saturating_sub(machine_before);
        own += process_cpu(server.child.id()).saturating_sub(own_before);
    }
    let count = u32::try_from(samples).unwrap();
    Pair {
        one: stats(ones),
        group: stats(groups),
        machine_cpu_per_group_call: machine / count,
        praxis_cpu_per_group_call: own / count,
    }
}

/// Busy CPU time of the whole machine so far (`/proc/stat`, all but idle and iowait).
fn machine_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap())
        .collect();
    let busy: u64 = fields
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != 3 && *index != 4)
        .map(|(_, ticks)| ticks)
        .sum();
    ticks(busy)
}

/// CPU time of process `pid` and of the children it has waited for (`/proc/PID/stat`).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14–17 of the file, 12–15 after the name.
    let total: u64 = fields[11..15]
        .iter()
        .map(|field| field.parse::<u64>().unwrap())
        .sum();
    ticks(total)
}

/// Clock ticks (`USER_HZ`, 100 on Linux) as time.
fn ticks(count: u64) -> Duration {
    Duration::from_millis(count * 10)
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

#[expect(
    clippy::too_many_lines,
    reason = "one benchmark run: each configuration, then its rows, in order"
)]
fn main() {
    if !Path::new("/usr/sbin/sshd").exists() {
        eprintln!("fanout_bench: no /usr/sbin/sshd (make deps installs it); nothing measured");
        return;
    }
    let Some(lab) = Lab::up() else { return };
    let identity = lab.directory.join("client/id_ed25519");
    let uptime = json!({"adapter": "ssh", "action": "uptime", "dry_run": false});
    let probe = json!({"probe": "os_release"});

    // On loopback: multiplexed (the default; masters are up after the warm-up calls), then a
    // new ssh connection per call (key exchange and authentication every time).
    let root = imported(&lab, "fanout", false);
    let mut server = start(&root, &identity, "60");
    let warm = measure(&mut server, "run_action", &uptime, 15, 2);
    let warm_collect = measure(&mut server, "collect", &probe, 10, 0);
    server.stop();
    let mut server = start(&root, &identity, "0");
    let cold = measure(&mut server, "run_action", &uptime, 8, 0);
    server.stop();
    drop(std::fs::remove_dir_all(&root));

    // The same hosts 20 ms away (10 ms each way), as a fleet in another building or region is.
    let proxy = Proxy::start(Duration::from_millis(10));
    let root = imported(&lab, "fanout-wan", true);
    let mut server = start(&root, &identity, "60");
    let wan_warm = measure(&mut server, "run_action", &uptime, 15, 2);
    server.stop();
    let mut server = start(&root, &identity, "0");
    let wan_cold = measure(&mut server, "run_action", &uptime, 8, 0);
    server.stop();
    drop(proxy);
    drop(std::fs::remove_dir_all(&root));

    // 50 ms away (25 ms each way): a fleet in another region.
    let proxy = Proxy::start(Duration::from_millis(25));
    let root = imported(&lab, "fanout-far", true);
    let mut server = start(&root, &identity, "60");
    let far_warm = measure(&mut server, "run_action", &uptime, 15, 2);
    server.stop();
    drop(proxy);
    drop(std::fs::remove_dir_all(&root));

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
         `fanout_concurrency` 32 (the default). Only p50 is compared. The kernel here has no \
         netem, so the 20 ms and 50 ms rows put `tests/lab/latency-proxy.py` (a relay that \
         delivers every chunk 10 or 25 ms after reading it, each way) in front of every host. The CPU columns \
         are measured per {HOSTS}-host call (`/proc/stat` for the machine, `/proc/PID/stat` \
         for praxis and the ssh clients it waited for); the floor is the machine's CPU time \
         divided by its 2 cores, the least wall time any client could take here.\n"
    )
    .unwrap();
    writeln!(
        body,
        "| call | one host p50 | {HOSTS} hosts p50 | ratio | target | CPU per {HOSTS}-host call: machine / praxis + its ssh clients | floor on 2 cores | samples |"
    )
    .unwrap();
    writeln!(body, "| --- | --- | --- | --- | --- | --- | --- | --- |").unwrap();
    for (label, pair) in [
        (
            "loopback: `run_action uptime`, multiplexed master per host (default)",
            &warm,
        ),
        (
            "loopback: `collect os_release`, multiplexed (parse + facts + record per host)",
            &warm_collect,
        ),
        (
            "loopback: `run_action uptime`, a new ssh connection per call (`ssh_control_persist_seconds = 0`)",
            &cold,
        ),
        (
            "20 ms RTT: `run_action uptime`, multiplexed (default)",
            &wan_warm,
        ),
        (
            "20 ms RTT: `run_action uptime`, a new ssh connection per call",
            &wan_cold,
        ),
        (
            "50 ms RTT: `run_action uptime`, multiplexed (default)",
            &far_warm,
        ),
    ] {
        writeln!(
            body,
            "| {label} | {} | {} | {:.1}× | < 2× | {} / {} | {} | {} + {} |",
            millis(pair.one.p50),
            millis(pair.group.p50),
            pair.ratio(),
            millis(pair.machine_cpu_per_group_call),
            millis(pair.praxis_cpu_per_group_call),
            millis(pair.machine_cpu_per_group_call / 2),
            pair.one.samples,
            pair.group.samples
        )
        .unwrap();
    }
    print!("{body}");
    common::write_section("fanout", &body);
    drop(lab);
}

/// A new state directory with the lab's inventory imported.
fn imported(lab: &Lab, name: &str, via_proxy: bool) -> PathBuf {
    let root = state_root(name);
    init(&root);
    let file = root.join("fleet.toml");
    std::fs::write(&file, lab.inventory(via_proxy)).unwrap();
    let imported = praxis(&root, &["fleet", "import", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    root
}
