//! The trusted inventory: the same fleet from Ansible INI, YAML, real `ansible-inventory --list`
//! JSON and praxis TOML; re-import supersedes and retracts exactly what changed.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Session, StateDir, refusal_code};

pub const INI: &str = "\
[web]
web-1 ansible_host=127.0.10.1 ansible_port=2222
web-2 ansible_host=127.0.10.2 ansible_port=2222

[linux:children]
web

[linux:vars]
ansible_user=aiops
ansible_ssh_private_key_file=/run/praxis-lab/client/id_ed25519

[talos]
cp-1 praxis_talos_nodes=10.5.0.2 praxis_talos_endpoints=10.5.0.2

[bmc]
bmc-1 praxis_redfish_url=https://127.0.0.1:8000/redfish/v1/Systems/1 praxis_redfish_credential=lab-bmc

[windows]
win-1 ansible_host=127.0.10.9
";

const YAML: &str = "\
all:
  children:
    linux:
      vars:
        ansible_user: aiops
        ansible_ssh_private_key_file: /run/praxis-lab/client/id_ed25519
      children:
        web:
          hosts:
            web-1:
              ansible_host: 127.0.10.1
              ansible_port: 2222
            web-2:
              ansible_host: 127.0.10.2
              ansible_port: 2222
    talos:
      hosts:
        cp-1:
          praxis_talos_nodes: 10.5.0.2
          praxis_talos_endpoints: 10.5.0.2
    bmc:
      hosts:
        bmc-1:
          praxis_redfish_url: https://127.0.0.1:8000/redfish/v1/Systems/1
          praxis_redfish_credential: lab-bmc
    windows:
      hosts:
        win-1:
          ansible_host: 127.0.10.9
";

const TOML: &str = r#"
[hosts.web-1]
host_type = "linux"
groups = ["linux", "web"]
ssh = { address = "127.0.10.1", port = 2222, user = "aiops" }

[hosts.web-2]
host_type = "linux"
groups = ["linux", "web"]
ssh = { address = "127.0.10.2", port = 2222, user = "aiops" }

[hosts.cp-1]
host_type = "talos"
groups = ["talos"]
talos = { nodes = ["10.5.0.2"], endpoints = ["10.5.0.2"] }

[hosts.bmc-1]
host_type = "bmc"
groups = ["bmc"]
redfish = { url = "https://127.0.0.1:8000/redfish/v1/Systems/1", credential = "lab-bmc" }

[hosts.win-1]
host_type = "windows"
groups = ["windows"]
ssh = { address = "127.0.10.9", port = 22 }
"#;

fn ansible_inventory_json(directory: &StateDir, ini: &std::path::Path) -> String {
    let output = Command::new("ansible-inventory")
        .args(["-i", ini.to_str().unwrap(), "--list"])
        .env("HOME", &directory.root)
        .env("ANSIBLE_LOCAL_TEMP", directory.root.join("ansible-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("ansible-inventory must be installed (make test installs ansible-core)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn import(directory: &StateDir, name: &str, contents: &str) -> std::process::Output {
    let path = directory.root.join(name);
    std::fs::write(&path, contents).unwrap();
    directory.run(&["fleet", "import", path.to_str().unwrap()])
}

fn fleet(directory: &StateDir) -> Value {
    let output = directory.run(&["fleet", "list", "--json"]);
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn ini_yaml_ansible_json_and_toml_give_the_same_fleet() {
    let from_ini = StateDir::initialised("fleet-ini");
    let output = import(&from_ini, "hosts.ini", INI);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = fleet(&from_ini);
    assert_eq!(expected.as_array().unwrap().len(), 5, "{expected}");

    let from_json = StateDir::initialised("fleet-json");
    let json_text = ansible_inventory_json(&from_json, &from_ini.root.join("hosts.ini"));
    let output = import(&from_json, "inventory.json", &json_text);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(fleet(&from_json), expected, "ansible-inventory --list JSON");

    let from_yaml = StateDir::initialised("fleet-yaml");
    let output = import(&from_yaml, "hosts.yml", YAML);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(fleet(&from_yaml), expected, "YAML");

    let from_toml = StateDir::initialised("fleet-toml");
    let output = import(&from_toml, "fleet.toml", TOML);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(fleet(&from_toml), expected, "praxis TOML");
}

#[test]
fn reimport_supersedes_and_retracts_exactly_what_changed() {
    let directory = StateDir::initialised("fleet-reimport");
    assert!(import(&directory, "hosts.ini", INI).status.success());
    let edited = INI
        .replace(
            "web-2 ansible_host=127.0.10.2 ansible_port=2222",
            "web-2 ansible_host=127.0.10.2 ansible_port=2200",
        )
        .replace("[windows]\nwin-1 ansible_host=127.0.10.9\n", "");
    let output = import(&directory, "hosts.ini", &edited);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        summary.contains("1 changed") && summary.contains("2 retracted"),
        "{summary}"
    );

    let history = |host: &str| -> Vec<Value> {
        let output = directory.run(&["fleet", "history", host, "--json"]);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let web_2: Vec<Value> = history("web-2")
        .into_iter()
        .filter(|version| version["predicate"] == "inventory")
        .collect();
    assert_eq!(web_2.len(), 2, "{web_2:?}");
    assert_eq!(web_2[1]["value"]["connection"]["ssh"]["port"], 2200);
    assert!(web_2[0]["valid_to"].is_string());
    assert!(
        web_2[0]["ended_reason"]
            .as_str()
            .unwrap()
            .starts_with("praxis fleet import ")
    );
    let web_1: Vec<Value> = history("web-1")
        .into_iter()
        .filter(|version| version["predicate"] == "inventory")
        .collect();
    assert_eq!(web_1.len(), 1, "an unchanged host gets no new version");
    let win_1 = history("win-1");
    assert!(
        win_1.iter().all(|version| version["valid_to"].is_string()),
        "{win_1:?}"
    );
    assert!(
        win_1
            .iter()
            .all(|version| !version["ended_by"].as_str().unwrap_or_default().is_empty())
    );
    assert_eq!(fleet(&directory).as_array().unwrap().len(), 4);

    // A host whose type cannot be told refuses the whole import, and changes nothing.
    let before = fleet(&directory);
    let output = import(
        &directory,
        "broken.ini",
        &format!("{edited}\n[mystery]\nbox-1\n"),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("box-1") && stderr.contains("cannot tell its host_type"),
        "{stderr}"
    );
    assert_eq!(fleet(&directory), before);
    let secret = import(
        &directory,
        "secret.ini",
        "[linux]\nweb-9 ansible_password=hunter2\n",
    );
    assert_eq!(secret.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&secret.stderr).contains("hunter2"));
    assert_eq!(directory.verify().0, 0);
}

#[test]
fn list_hosts_over_mcp_reads_the_trusted_inventory() {
    let directory = StateDir::initialised("fleet-mcp");
    assert!(import(&directory, "hosts.ini", INI).status.success());
    let mut session = Session::initialised(&directory);
    let all = session.call("list_hosts", json!({}));
    assert_eq!(all["structuredContent"]["count"], 5, "{all}");
    let talos = session.call("list_hosts", json!({"host_type": "talos"}));
    let hosts = talos["structuredContent"]["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        hosts[0]["adapters"],
        json!(["talosctl", "runbook"]),
        "never ssh for talos"
    );
    let web = session.call("list_hosts", json!({"group": "web"}));
    assert_eq!(web["structuredContent"]["count"], 2);
    let bad = session.call("list_hosts", json!({"host_type": "mainframe"}));
    assert_eq!(refusal_code(&bad), Some("invalid-arguments"));
    let known = session.call(
        "ingest_observation",
        json!({"collector": "probe", "subject": "host:web-1", "raw": "A=1"}),
    );
    assert_eq!(known["structuredContent"]["inventory_host"], true);
    let unknown = session.call(
        "ingest_observation",
        json!({"collector": "probe", "subject": "host:stranger", "raw": "A=1"}),
    );
    assert_eq!(unknown["structuredContent"]["inventory_host"], false);
    assert_eq!(session.finish().0, 0);
}

#[test]
fn host_resources_are_listed_read_and_audited() {
    let directory = StateDir::initialised("fleet-resources");
    assert!(import(&directory, "hosts.ini", INI).status.success());
    let mut session = Session::initialised(&directory);
    let listed = session.request("resources/list", json!({}));
    let resources = listed
        .pointer("/result/resources")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(resources.len(), 6, "five hosts and the policy");
    assert!(
        resources
            .iter()
            .any(|resource| resource["uri"] == "praxis://hosts/cp-1")
    );
    let templates = session.request("resources/templates/list", json!({}));
    assert_eq!(
        templates.pointer("/result/resourceTemplates/0/uriTemplate"),
        Some(&json!("praxis://hosts/{name}")),
        "{templates}"
    );
    let read = session.request("resources/read", json!({"uri": "praxis://hosts/web-1"}));
    let text = read
        .pointer("/result/contents/0/text")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{read}"));
    let host: Value = serde_json::from_str(text).unwrap();
    assert_eq!(host["inventory"]["host_type"], "linux");
    assert_eq!(host["inventory"]["connection"]["ssh"]["port"], 2222);
    let policy = session.request("resources/read", json!({"uri": "praxis://policy"}));
    let text = policy
        .pointer("/result/contents/0/text")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{policy}"));
    let policy: Value = serde_json::from_str(text).unwrap();
    assert_eq!(policy["mode"], "guarded");
    assert!(
        policy["command_rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rule| rule["id"] == "deny.root-wipe")
    );
    let missing = session.request("resources/read", json!({"uri": "praxis://hosts/nope"}));
    assert_eq!(
        missing.pointer("/error/code"),
        Some(&json!(-32002)),
        "{missing}"
    );
    let foreign = session.request("resources/read", json!({"uri": "file:///etc/passwd"}));
    assert!(foreign.get("error").is_some(), "{foreign}");
    assert_eq!(session.finish().0, 0);
    let records = directory.records();
    let reads: Vec<&Value> = records
        .iter()
        .filter(|record| record["tool"] == "resources/read")
        .collect();
    assert_eq!(reads.len(), 4, "every resource read is audited");
    assert_eq!(
        reads
            .iter()
            .filter(|record| record["decision"] == "allowed")
            .count(),
        2
    );
    assert!(
        records
            .iter()
            .any(|record| record["tool"] == "resources/list")
    );
}
