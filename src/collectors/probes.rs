//! Built-in read-only probes for `collect`: the command each runs on a Linux host, and the
//! conversion of its output into what a collector parses.
//!
//! Invariants: every probe command is a fixed T0 read (a test classifies each one); conversions
//! are pure, never panic, and drop lines they cannot read.

use serde_json::{Value, json};

use super::Collector;

/// A built-in probe.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub name: &'static str,
    /// The remote command (a T0 read).
    pub command: &'static str,
    /// The collector that parses the converted output.
    pub collector: Collector,
    /// The predicate the facts are filed under.
    pub predicate: &'static str,
    convert: fn(&str) -> String,
}

impl Probe {
    /// The collector input for this probe's `output`.
    pub fn convert(&self, output: &str) -> String {
        (self.convert)(output)
    }
}

/// The probes `collect` offers, by name.
pub const PROBES: &[Probe] = &[
    Probe {
        name: "os_release",
        command: "cat /etc/os-release",
        collector: Collector::Probe,
        predicate: "os_release",
        convert: unchanged,
    },
    Probe {
        name: "packages",
        command: "dpkg-query -W -f '${Package}\\t${Version}\\t${Architecture}\\n'",
        collector: Collector::Osquery,
        predicate: "deb_packages",
        convert: dpkg_rows,
    },
    Probe {
        name: "users",
        command: "getent passwd",
        collector: Collector::Osquery,
        predicate: "users",
        convert: passwd_rows,
    },
    Probe {
        name: "listening_ports",
        command: "ss -tlnH",
        collector: Collector::Osquery,
        predicate: "listening_ports",
        convert: ss_rows,
    },
    Probe {
        name: "services",
        // Hosts without systemd (containers, sysvinit, OpenRC with the `service` shim) answer
        // the second command.
        command: "systemctl list-units --type=service --all --no-pager --plain --no-legend || /usr/sbin/service --status-all",
        collector: Collector::Osquery,
        predicate: "systemd_units",
        convert: systemd_rows,
    },
    Probe {
        name: "disks",
        // Every mounted filesystem with its size and free space, in bytes.
        command: "df -PT -B1",
        collector: Collector::Osquery,
        predicate: "mounts",
        convert: df_rows,
    },
];

/// The probe named `name`.
pub fn probe(name: &str) -> Option<&'static Probe> {
    PROBES.iter().find(|probe| probe.name == name)
}

fn unchanged(output: &str) -> String {
    output.to_owned()
}

fn rows(rows: Vec<Value>) -> String {
    Value::Array(rows).to_string()
}

/// `dpkg-query` lines `name<TAB>version<TAB>arch` → osquery-style package rows.
fn dpkg_rows(output: &str) -> String {
    rows(
        output
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let (name, version) = (fields.next()?, fields.next()?);
                let arch = fields.next().unwrap_or_default();
                (!name.is_empty()).then(|| json!({"name": name, "version": version, "arch": arch}))
            })
            .collect(),
    )
}

/// `getent passwd` lines → osquery-style user rows (never the password field).
fn passwd_rows(output: &str) -> String {
    rows(
        output
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                if fields.len() < 7 || fields[0].is_empty() {
                    return None;
                }
                Some(json!({"username": fields[0], "uid": fields[2], "gid": fields[3], "directory": fields[5], "shell": fields[6]}))
            })
            .collect(),
    )
}

/// `ss -tlnH` lines (`LISTEN 0 511 0.0.0.0:80 0.0.0.0:*`) → osquery-style port rows.
fn ss_rows(output: &str) -> String {
    rows(
        output
            .lines()
            .filter_map(|line| {
                let local = line.split_whitespace().nth(3)?;
                let (address, port) = local.rsplit_once(':')?;
                let port: u16 = port.parse().ok()?;
                Some(json!({"protocol": "tcp", "address": address.trim_matches(['[', ']']), "port": port}))
            })
            .collect(),
    )
}

/// `df -PT -B1` lines (`/dev/vda ext4 270553174016 33159426048 64413323264 34% /`) →
/// osquery-style `mounts` rows (block size 1, so blocks are bytes).
fn df_rows(output: &str) -> String {
    rows(
        output
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let [device, kind, total, used, available, _capacity, path @ ..] = fields.as_slice() else {
                    return None;
                };
                let number = |text: &str| text.parse::<u64>().ok();
                let (total, used, available) = (number(total)?, number(used)?, number(available)?);
                (!path.is_empty()).then(|| {
                    json!({"device": device, "type": kind, "path": path.join(" "), "blocks_size": 1,
                        "blocks": total, "blocks_free": total.saturating_sub(used), "blocks_available": available})
                })
            })
            .collect(),
    )
}

/// `systemctl list-units --plain --no-legend` lines → osquery-style systemd unit rows; or, from
/// a host without systemd, `service --status-all` lines (` [ + ]  nginx`) → the same rows,
/// named `<script>.service` as systemd's sysv generator would name them.
fn systemd_rows(output: &str) -> String {
    rows(
        output
            .lines()
            .filter_map(|line| {
                if let Some(rest) = line.trim_start().strip_prefix("[ ") {
                    let (state, name) = rest.split_once(" ]")?;
                    let name = name.trim();
                    if name.is_empty() || name.contains(char::is_whitespace) {
                        return None;
                    }
                    let (active, sub) = match state {
                        "+" => ("active", "running"),
                        "-" => ("inactive", "dead"),
                        _ => ("unknown", "unknown"),
                    };
                    return Some(
                        json!({"id": format!("{name}.service"), "load_state": "sysv",
                        "active_state": active, "sub_state": sub}),
                    );
                }
                let mut fields = line.split_whitespace();
                let (id, load, active, sub) = (
                    fields.next()?,
                    fields.next()?,
                    fields.next()?,
                    fields.next()?,
                );
                id.ends_with(".service").then(|| {
                    json!({"id": id, "load_state": load, "active_state": active, "sub_state": sub})
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::classify::Verdict;
    use crate::policy::{Policy, Tier, UnknownDefault};

    #[test]
    fn every_probe_command_is_a_t0_read() {
        let policy = Policy::default_policy().unwrap();
        for probe in PROBES {
            let verdict = policy
                .classify_command("ssh", probe.command, UnknownDefault::Approval)
                .verdict;
            assert_eq!(
                verdict,
                Verdict::Tier(Tier::T0),
                "{}: {}",
                probe.name,
                probe.command
            );
        }
    }

    #[test]
    fn conversions_feed_the_typed_osquery_facts() {
        let packages = crate::collectors::parse(
            Collector::Osquery,
            &dpkg_rows("nginx\t1.22.1-9\tamd64\ncurl\t7.88\tamd64\n\n"),
            Some("deb_packages"),
        );
        assert!(
            packages
                .facts
                .iter()
                .any(|fact| fact.predicate == "package:nginx")
        );
        let users = crate::collectors::parse(
            Collector::Osquery,
            &passwd_rows("root:x:0:0:root:/root:/bin/bash\nbroken\n"),
            Some("users"),
        );
        assert!(users.facts.iter().any(|fact| fact.predicate == "user:root"));
        assert!(
            !users
                .facts
                .iter()
                .any(|fact| fact.value.to_string().contains("\"x\""))
        );
        let ports = crate::collectors::parse(
            Collector::Osquery,
            &ss_rows("LISTEN 0 511 0.0.0.0:80 0.0.0.0:*\nLISTEN 0 128 [::]:22 [::]:*\n"),
            Some("listening_ports"),
        );
        assert!(
            ports
                .facts
                .iter()
                .any(|fact| fact.predicate == "port:tcp/80"),
            "{ports:?}"
        );
        let units = crate::collectors::parse(
            Collector::Osquery,
            &systemd_rows("nginx.service loaded active running A web server\n"),
            Some("systemd_units"),
        );
        assert!(
            units
                .facts
                .iter()
                .any(|fact| fact.predicate == "service:nginx.service"),
            "{units:?}"
        );
        let mounts = crate::collectors::parse(
            Collector::Osquery,
            &df_rows(
                "Filesystem Type 1-blocks Used Available Capacity Mounted on\n/dev/vda ext4 1000 400 500 44% /\ntmpfs tmpfs 10 0 10 0% /run/my mount\nbroken line\n",
            ),
            Some("mounts"),
        );
        let root = mounts
            .facts
            .iter()
            .find(|fact| fact.predicate == "mount:/")
            .unwrap_or_else(|| panic!("{mounts:?}"));
        assert_eq!(root.value["blocks_available"], json!(500));
        assert_eq!(root.value["blocks_free"], json!(600));
        assert!(
            mounts
                .facts
                .iter()
                .any(|fact| fact.predicate == "mount:/run/my mount")
        );
        let sysv = crate::collectors::parse(
            Collector::Osquery,
            &systemd_rows(" [ + ]  ssh\n [ - ]  nginx\n [ ? ]  hwclock.sh\n [ + ]  two words\n"),
            Some("systemd_units"),
        );
        let state = |name: &str| {
            sysv.facts
                .iter()
                .find(|fact| fact.predicate == name)
                .map(|fact| fact.value["active_state"].clone())
        };
        assert_eq!(
            state("service:ssh.service"),
            Some(json!("active")),
            "{sysv:?}"
        );
        assert_eq!(state("service:nginx.service"), Some(json!("inactive")));
        assert_eq!(state("service:hwclock.sh.service"), Some(json!("unknown")));
        let services = sysv
            .facts
            .iter()
            .filter(|fact| fact.predicate.starts_with("service:"))
            .count();
        assert_eq!(
            services, 3,
            "a name with a space is not a service: {sysv:?}"
        );
    }
}
