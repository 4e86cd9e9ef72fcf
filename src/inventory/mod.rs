//! The trusted inventory: the operator's statement of which hosts exist and what they are.
//!
//! Four formats are read: Ansible's INI and YAML inventories, the JSON that
//! `ansible-inventory --list` prints, and praxis's own TOML. Each format parser turns its text
//! into one neutral raw inventory (every host with its merged variables and every group it
//! belongs to, ancestors included), and the single function `build_inventory` below validates
//! that raw inventory and builds the `Host` values. The rules therefore live in one place.
//!
//! Invariants:
//! - Parsing never panics and never guesses: a host's type comes from `praxis_host_type` or from
//!   membership in a group named after a type, never from its name or its other variables.
//! - Every problem is reported, and any problem means no inventory at all (all-or-nothing).
//!   A syntax error in the text stops the parse before validation, so validation never reports
//!   consequences of text it could not read.
//! - Secrets are refused, never stored, and their values never appear in an error message.
//! - At most `MAX_HOSTS` hosts and `MAX_TEXT_BYTES` bytes of text are accepted.

mod ansible_json;
mod groups;
mod host_pattern;
mod ini;
mod praxis_toml;
mod strict_value;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// The largest number of hosts an inventory may hold.
pub const MAX_HOSTS: usize = 100_000;

/// The largest inventory text accepted, in bytes (10 MiB).
pub const MAX_TEXT_BYTES: usize = 10 * 1024 * 1024;

/// What kind of machine a host is; it decides which adapter may touch the host.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum HostType {
    /// A general-purpose Linux machine reached over SSH.
    Linux,
    /// A Talos Linux node, reached only through the Talos API (never over SSH).
    Talos,
    /// A baseboard management controller, reached through Redfish.
    Bmc,
    /// A Windows machine reached over SSH.
    Windows,
    /// A cloud resource with no direct connection.
    Cloud,
}

impl HostType {
    /// Every host type, in a fixed order.
    pub const ALL: [HostType; 5] = [
        HostType::Linux,
        HostType::Talos,
        HostType::Bmc,
        HostType::Windows,
        HostType::Cloud,
    ];

    /// The name used in inventories, tools and records.
    pub fn as_str(self) -> &'static str {
        match self {
            HostType::Linux => "linux",
            HostType::Talos => "talos",
            HostType::Bmc => "bmc",
            HostType::Windows => "windows",
            HostType::Cloud => "cloud",
        }
    }

    /// The host type with this exact name.
    pub fn from_name(name: &str) -> Option<HostType> {
        HostType::ALL
            .into_iter()
            .find(|host_type| host_type.as_str() == name)
    }

    /// The host type a group stands for: `linux` or `praxis_linux`, and so on for each type.
    fn from_group_name(group: &str) -> Option<HostType> {
        HostType::from_name(group.strip_prefix("praxis_").unwrap_or(group))
    }
}

impl Serialize for HostType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How to reach a host over SSH.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct SshTarget {
    /// The address to connect to (`ansible_host`, or the host name).
    pub address: String,
    /// The TCP port; 22 unless the inventory says otherwise.
    pub port: u16,
    /// The login user, when the inventory names one.
    pub user: Option<String>,
    /// The pinned public host key line, such as `ssh-ed25519 AAAA...`.
    pub host_key: Option<String>,
}

impl Default for SshTarget {
    fn default() -> Self {
        SshTarget {
            address: String::new(),
            port: DEFAULT_SSH_PORT,
            user: None,
            host_key: None,
        }
    }
}

/// How to reach a Talos node through the Talos API.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct TalosTarget {
    /// The nodes that requests are about.
    pub nodes: Vec<String>,
    /// The API endpoints that requests go through (empty: the client's own configuration).
    pub endpoints: Vec<String>,
}

/// How to reach a baseboard management controller through Redfish.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct RedfishTarget {
    /// The Redfish URL (http or https).
    pub url: String,
    /// A credential *reference* (a name), never a secret.
    pub credential: Option<String>,
    /// The BMC's IP address: a host name in the URL must resolve to it (and only to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<std::net::IpAddr>,
}

/// Every way the inventory says a host may be reached; at most the one fitting its type is set.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct Connection {
    /// Set for linux and windows hosts.
    pub ssh: Option<SshTarget>,
    /// Set for talos hosts.
    pub talos: Option<TalosTarget>,
    /// Set for bmc hosts.
    pub redfish: Option<RedfishTarget>,
}

/// One validated host of the inventory.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Host {
    /// The inventory name of the host.
    pub name: String,
    /// What kind of machine the host is.
    pub host_type: HostType,
    /// Every group the host belongs to, ancestors included, without `all` and `ungrouped`.
    pub groups: BTreeSet<String>,
    /// How the host may be reached.
    pub connection: Connection,
}

/// A validated inventory: every host, by name.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Inventory {
    /// The hosts, keyed by their names.
    pub hosts: BTreeMap<String, Host>,
}

/// The text format of an inventory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// Ansible's INI inventory.
    Ini,
    /// Ansible's YAML inventory.
    Yaml,
    /// The JSON printed by `ansible-inventory --list`.
    AnsibleJson,
    /// praxis's own TOML inventory.
    PraxisToml,
}

impl Format {
    /// The format with this name: `ini`, `yaml`, `json` or `toml`.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "ini" => Some(Format::Ini),
            "yaml" => Some(Format::Yaml),
            "json" => Some(Format::AnsibleJson),
            "toml" => Some(Format::PraxisToml),
            _ => None,
        }
    }

    /// The format of a file: from its extension when it has a known one (`.ini` and `.cfg`,
    /// `.yml` and `.yaml`, `.json`, `.toml`), otherwise by looking at the text. A leading `{`
    /// means JSON; a `[hosts.` table or a `host_type =` line means praxis TOML; a leading `---`,
    /// an `all:` line or a first line that opens a mapping means YAML; a `[group]` line means INI.
    pub fn detect(file_name: &str, text: &str) -> Option<Format> {
        format_from_extension(file_name).or_else(|| format_from_text(text))
    }
}

/// The format named by a file's extension, if the extension is a known one.
fn format_from_extension(file_name: &str) -> Option<Format> {
    let base_name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let (stem, extension) = base_name.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    match extension.to_ascii_lowercase().as_str() {
        "ini" | "cfg" => Some(Format::Ini),
        "yml" | "yaml" => Some(Format::Yaml),
        "json" => Some(Format::AnsibleJson),
        "toml" => Some(Format::PraxisToml),
        _ => None,
    }
}

/// The format that the text itself shows, if it shows one.
fn format_from_text(text: &str) -> Option<Format> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let meaningful_lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| {
            let trimmed = line.trim_start();
            !(trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';'))
        })
        .collect();
    let first_line = *meaningful_lines.first()?;
    if first_line.trim_start().starts_with('{') {
        return Some(Format::AnsibleJson);
    }
    if meaningful_lines.iter().any(|line| {
        let trimmed = line.trim_start();
        trimmed.starts_with("[hosts.")
            || trimmed
                .strip_prefix("host_type")
                .is_some_and(|rest| rest.trim_start().starts_with('='))
    }) {
        return Some(Format::PraxisToml);
    }
    if first_line == "---"
        || meaningful_lines
            .iter()
            .any(|line| is_yaml_key_line(line, Some("all")))
        || is_yaml_key_line(first_line, None)
    {
        return Some(Format::Yaml);
    }
    if meaningful_lines
        .iter()
        .any(|line| line.trim_start().starts_with('[') && line.trim_end().ends_with(']'))
    {
        return Some(Format::Ini);
    }
    None
}

/// Whether a line opens a top-level YAML mapping entry (`key:` or `key: value`), optionally
/// with one particular key.
fn is_yaml_key_line(line: &str, wanted_key: Option<&str>) -> bool {
    if line.starts_with(char::is_whitespace) {
        return false;
    }
    let Some((key, rest)) = line.split_once(':') else {
        return false;
    };
    let key_looks_plain = !key.is_empty()
        && !key.starts_with(['[', '-', '{'])
        && !key.contains(|character: char| character.is_whitespace() || character == '=');
    let ends_the_key = rest.is_empty() || rest.starts_with(char::is_whitespace);
    key_looks_plain && ends_the_key && wanted_key.is_none_or(|wanted| wanted == key)
}

/// A problem with the inventory; `host` names the host when there is one.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InventoryError {
    /// The host the problem is about, if it is about one host.
    pub host: Option<String>,
    /// What is wrong, as a sentence for the operator.
    pub message: String,
}

impl InventoryError {
    /// A problem that is not about one host (such as a syntax error).
    fn without_host(message: impl Into<String>) -> InventoryError {
        InventoryError {
            host: None,
            message: message.into(),
        }
    }

    /// A problem about one host.
    fn for_host(host: &str, message: impl Into<String>) -> InventoryError {
        InventoryError {
            host: Some(host.to_owned()),
            message: message.into(),
        }
    }
}

impl fmt::Display for InventoryError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            // A valid name is printed as it is; anything else is escaped, so that a hostile
            // name cannot forge lines in a log or a terminal.
            Some(host) if is_valid_host_name(host) => {
                write!(formatter, "host {host}: {}", self.message)
            }
            Some(host) => write!(formatter, "host {host:?}: {}", self.message),
            None => formatter.write_str(&self.message),
        }
    }
}

impl std::error::Error for InventoryError {}

/// Parses and validates a whole inventory. Every problem is reported, not just the first;
/// any problem means no inventory (all-or-nothing: a half-imported fleet is worse than none).
pub fn parse(format: Format, text: &str) -> Result<Inventory, Vec<InventoryError>> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(vec![InventoryError::without_host(format!(
            "the inventory text is {} bytes; at most {MAX_TEXT_BYTES} bytes (10 MiB) are accepted",
            text.len()
        ))]);
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw_inventory = match format {
        Format::Ini => ini::parse_ini(text)?,
        Format::Yaml => yaml::parse_yaml(text)?,
        Format::AnsibleJson => ansible_json::parse_ansible_json(text)?,
        Format::PraxisToml => praxis_toml::parse_praxis_toml(text)?,
    };
    build_inventory(raw_inventory)
}

/// The host as the JSON value praxis stores (`serde_json::to_value` of `Host`).
pub fn host_json(host: &Host) -> Value {
    // Serializing a `Host` cannot fail: every map key is a string and every field is plain
    // data. The null fallback only exists so that no panic path is compiled in.
    serde_json::to_value(host).unwrap_or(Value::Null)
}

/// The port SSH uses when the inventory names none.
const DEFAULT_SSH_PORT: u16 = 22;

/// The string a YAML `!vault` tagged value is read as, so that the shared secret check (which
/// refuses any string starting with `$ANSIBLE_VAULT`) catches it; the vaulted text is dropped.
const YAML_VAULT_MARKER: &str = "$ANSIBLE_VAULT (a YAML !vault value)";

/// Variable names that always hold a secret.
const SECRET_VARIABLE_NAMES: [&str; 6] = [
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_ssh_private_key_passphrase",
    "praxis_redfish_password",
];

/// Words that mark a variable name as holding a secret, wherever they appear in it.
const SECRET_NAME_WORDS: [&str; 5] = ["password", "passwd", "secret", "token", "private_key"];

/// Every `praxis_` variable the inventory understands; any other `praxis_` name is a typo.
const PRAXIS_VARIABLES: [&str; 7] = [
    "praxis_host_type",
    "praxis_ssh_host_key",
    "praxis_talos_nodes",
    "praxis_talos_endpoints",
    "praxis_redfish_url",
    "praxis_redfish_credential",
    "praxis_redfish_address",
];

/// Public key algorithms accepted at the start of a pinned SSH host key line.
const SSH_HOST_KEY_ALGORITHMS: [&str; 7] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// One host as a format parser saw it, before validation.
#[derive(Clone, PartialEq, Debug, Default)]
struct RawHost {
    /// The host's variables, already merged with Ansible's precedence.
    variables: Map<String, Value>,
    /// Every group the host belongs to, ancestors included (`all` and `ungrouped` may appear).
    groups: BTreeSet<String>,
}

/// A whole inventory as a format parser saw it, before validation.
#[derive(Clone, PartialEq, Debug, Default)]
struct RawInventory {
    /// The hosts, keyed by name.
    hosts: BTreeMap<String, RawHost>,
}

/// Validates a raw inventory and builds its hosts: the one place where the inventory rules live.
fn build_inventory(raw_inventory: RawInventory) -> Result<Inventory, Vec<InventoryError>> {
    if raw_inventory.hosts.len() > MAX_HOSTS {
        return Err(vec![too_many_hosts_error()]);
    }
    let mut hosts = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, raw_host) in raw_inventory.hosts {
        let mut problems = Vec::new();
        let host = build_host(&name, raw_host, &mut problems);
        match host {
            Some(host) if problems.is_empty() => {
                hosts.insert(name, host);
            }
            Some(_) | None => errors.extend(
                problems
                    .into_iter()
                    .map(|problem| InventoryError::for_host(&name, problem)),
            ),
        }
    }
    if errors.is_empty() {
        Ok(Inventory { hosts })
    } else {
        Err(errors)
    }
}

/// The error for an inventory with more than `MAX_HOSTS` hosts.
fn too_many_hosts_error() -> InventoryError {
    InventoryError::without_host(format!(
        "the inventory has more than {MAX_HOSTS} hosts; at most {MAX_HOSTS} are accepted"
    ))
}

/// Validates one raw host and builds it; every problem found is pushed onto `problems`.
fn build_host(name: &str, mut raw_host: RawHost, problems: &mut Vec<String>) -> Option<Host> {
    if let Err(problem) = check_host_name(name) {
        problems.push(problem);
    }
    for group in &raw_host.groups {
        if !is_valid_group_name(group) {
            problems.push(format!(
                "group name {} is invalid; group names use only letters, digits, '_' and '-'",
                quoted_for_message(group)
            ));
        }
    }
    check_variables(&mut raw_host.variables, problems);
    let host_type = determine_host_type(&raw_host, problems)?;
    let connection = build_connection(name, host_type, &raw_host.variables, problems);
    let groups = raw_host
        .groups
        .into_iter()
        .filter(|group| group != "all" && group != "ungrouped")
        .collect();
    Some(Host {
        name: name.to_owned(),
        host_type,
        groups,
        connection,
    })
}

/// Checks a host name: 1–253 characters of letters, digits, '.', '_' and '-', not starting
/// with '-' or '.'.
fn check_host_name(name: &str) -> Result<(), String> {
    if is_valid_host_name(name) {
        Ok(())
    } else {
        Err(
            "invalid host name; a host name is 1 to 253 letters, digits, '.', '_' or '-', \
             and does not start with '-' or '.'"
                .to_owned(),
        )
    }
}

/// Whether a host name follows the rule described at `check_host_name`.
fn is_valid_host_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Whether a group name follows Ansible's rule: one or more letters, digits, '_' or '-'.
fn is_valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-'))
}

/// Refuses secrets and unknown `praxis_` variables, and removes every variable that holds a
/// secret, so that no later check can quote a secret value in its message.
fn check_variables(variables: &mut Map<String, Value>, problems: &mut Vec<String>) {
    let mut secret_paths = Vec::new();
    let mut secret_variables = Vec::new();
    for (name, value) in &*variables {
        let secrets_before = secret_paths.len();
        collect_secret_paths(name, name, value, &mut secret_paths);
        let holds_a_secret = secret_paths.len() > secrets_before;
        if holds_a_secret {
            secret_variables.push(name.clone());
        } else if name.starts_with("praxis_") && !PRAXIS_VARIABLES.contains(&name.as_str()) {
            problems.push(format!(
                "variable {name} is not a praxis inventory variable; the praxis variables are {}",
                PRAXIS_VARIABLES.join(", ")
            ));
        }
    }
    for name in &secret_variables {
        variables.remove(name);
    }
    secret_paths.dedup();
    for path in secret_paths {
        problems.push(format!(
            "variable {path} holds a secret; praxis inventories carry credential references \
             only (praxis_redfish_credential = \"name\")"
        ));
    }
}

/// Pushes the path of every secret in one variable: a secret name, a vault blob (an
/// `$ANSIBLE_VAULT` string, or Ansible's `{"__ansible_vault": ...}` JSON form) or a private
/// key, at any depth. Only names are recorded, never values.
fn collect_secret_paths(path: &str, key: &str, value: &Value, secret_paths: &mut Vec<String>) {
    if is_secret_variable_name(key) {
        secret_paths.push(path.to_owned());
        return;
    }
    match value {
        Value::String(text) => {
            if is_secret_text(text) {
                secret_paths.push(path.to_owned());
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_secret_paths(path, "", item, secret_paths);
            }
        }
        Value::Object(entries) => {
            if entries.contains_key("__ansible_vault") {
                secret_paths.push(path.to_owned());
                return;
            }
            for (inner_key, inner_value) in entries {
                let inner_path = format!("{path}.{inner_key}");
                collect_secret_paths(&inner_path, inner_key, inner_value, secret_paths);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Variables that name the *path* of a key file, not a secret: allowed (and not stored).
const KEY_FILE_PATH_VARIABLES: [&str; 2] =
    ["ansible_ssh_private_key_file", "ansible_private_key_file"];

/// Whether a variable name says that its value is a secret.
fn is_secret_variable_name(name: &str) -> bool {
    let normalized = name.to_ascii_lowercase().replace('-', "_");
    if KEY_FILE_PATH_VARIABLES.contains(&normalized.as_str()) {
        return false;
    }
    SECRET_VARIABLE_NAMES.contains(&normalized.as_str())
        || SECRET_NAME_WORDS
            .iter()
            .any(|word| normalized.contains(word))
}

/// Whether a value is secret by its content: an Ansible vault blob or a private key.
fn is_secret_text(text: &str) -> bool {
    text.trim_start().starts_with("$ANSIBLE_VAULT")
        || (text.contains("-----BEGIN") && text.contains("PRIVATE KEY"))
}

/// The host's type: `praxis_host_type` when set, otherwise the one type group it is in.
fn determine_host_type(raw_host: &RawHost, problems: &mut Vec<String>) -> Option<HostType> {
    let type_names = HostType::ALL.map(HostType::as_str).join(", ");
    match raw_host.variables.get("praxis_host_type") {
        Some(Value::String(name)) => {
            let host_type = HostType::from_name(name);
            if host_type.is_none() {
                problems.push(format!(
                    "praxis_host_type is {}; it must be one of {type_names}",
                    quoted_for_message(name)
                ));
            }
            return host_type;
        }
        Some(Value::Null) | None => {}
        Some(Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_)) => {
            problems.push(format!(
                "praxis_host_type must be a string, one of {type_names}"
            ));
            return None;
        }
    }
    let group_types: BTreeSet<HostType> = raw_host
        .groups
        .iter()
        .filter_map(|group| HostType::from_group_name(group))
        .collect();
    let mut types = group_types.into_iter();
    match (types.next(), types.next()) {
        (Some(host_type), None) => Some(host_type),
        (Some(first), Some(second)) => {
            let mut names: Vec<&str> = vec![first.as_str(), second.as_str()];
            names.extend(types.map(HostType::as_str));
            problems.push(format!(
                "is in {}; set praxis_host_type",
                joined_with_and(&names, "both ")
            ));
            None
        }
        (None, _) => {
            problems.push(format!(
                "cannot tell its host_type; set praxis_host_type or put it in one of the groups \
                 {type_names}"
            ));
            None
        }
    }
}

/// Joins names as "a and b" (with `two_prefix` before a pair) or "a, b and c".
fn joined_with_and(names: &[&str], two_prefix: &str) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [first, second] => format!("{two_prefix}{first} and {second}"),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Builds the connection that fits the host type from the host's variables. Variables for
/// other kinds of connection are ignored, so that group-wide settings stay harmless.
fn build_connection(
    name: &str,
    host_type: HostType,
    variables: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> Connection {
    match host_type {
        HostType::Linux | HostType::Windows => Connection {
            ssh: Some(build_ssh_target(name, variables, problems)),
            ..Connection::default()
        },
        HostType::Talos => Connection {
            talos: Some(build_talos_target(name, variables, problems)),
            ..Connection::default()
        },
        HostType::Bmc => Connection {
            redfish: build_redfish_target(variables, problems),
            ..Connection::default()
        },
        HostType::Cloud => Connection::default(),
    }
}

/// The SSH target from `ansible_host`, `ansible_port`, `ansible_user` and `praxis_ssh_host_key`.
fn build_ssh_target(
    name: &str,
    variables: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> SshTarget {
    let address = connection_address(name, variables, problems);
    let port = match variables.get("ansible_port") {
        None | Some(Value::Null) => DEFAULT_SSH_PORT,
        Some(value) => port_from_value(value).unwrap_or_else(|| {
            problems.push(format!(
                "ansible_port is {}; it must be a whole number from 1 to 65535",
                value_for_message(value)
            ));
            DEFAULT_SSH_PORT
        }),
    };
    let user = string_variable(variables, "ansible_user", problems).and_then(|user| {
        if is_valid_user_name(&user) {
            Some(user)
        } else {
            problems.push(format!(
                "ansible_user is {}; a user name is 1 to 256 letters, digits or any of \
                 . _ - @ \\ $ and does not start with '-'",
                quoted_for_message(&user)
            ));
            None
        }
    });
    let host_key = string_variable(variables, "praxis_ssh_host_key", problems).and_then(|key| {
        if is_valid_ssh_host_key(&key) {
            Some(key.trim().to_owned())
        } else {
            problems.push(format!(
                "praxis_ssh_host_key must be one public key line such as \"ssh-ed25519 AAAA...\"; \
                 the algorithm must be one of {}",
                SSH_HOST_KEY_ALGORITHMS.join(", ")
            ));
            None
        }
    });
    SshTarget {
        address,
        port,
        user,
        host_key,
    }
}

/// The address a host is reached at: `ansible_host`, or else the host name.
fn connection_address(
    name: &str,
    variables: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> String {
    match string_variable(variables, "ansible_host", problems) {
        Some(address) => {
            if !is_valid_network_address(&address) {
                problems.push(format!(
                    "ansible_host is {}; {NETWORK_ADDRESS_RULE}",
                    quoted_for_message(&address)
                ));
            }
            address
        }
        None => name.to_owned(),
    }
}

/// The Talos target from `praxis_talos_nodes` and `praxis_talos_endpoints`.
fn build_talos_target(
    name: &str,
    variables: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> TalosTarget {
    let nodes = match address_list_variable(variables, "praxis_talos_nodes", problems) {
        Some(nodes) if nodes.is_empty() => {
            problems.push("praxis_talos_nodes is empty; name at least one node".to_owned());
            nodes
        }
        Some(nodes) => nodes,
        None => vec![connection_address(name, variables, problems)],
    };
    let endpoints =
        address_list_variable(variables, "praxis_talos_endpoints", problems).unwrap_or_default();
    TalosTarget { nodes, endpoints }
}

/// The Redfish target from `praxis_redfish_url` and `praxis_redfish_credential`.
fn build_redfish_target(
    variables: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> Option<RedfishTarget> {
    let url = string_variable(variables, "praxis_redfish_url", problems);
    let credential = string_variable(variables, "praxis_redfish_credential", problems);
    let address = string_variable(variables, "praxis_redfish_address", problems).and_then(|text| {
        let parsed = text.parse::<std::net::IpAddr>().ok();
        if parsed.is_none() {
            problems.push(format!(
                "praxis_redfish_address is {}; it must be one IPv4 or IPv6 address",
                quoted_for_message(&text)
            ));
        }
        parsed
    });
    if let Some(credential) = &credential
        && !is_valid_credential_reference(credential)
    {
        problems.push(format!(
            "praxis_redfish_credential is {}; a credential reference is a name of 1 to 128 \
             letters, digits, '.', '_' or '-'",
            quoted_for_message(credential)
        ));
    }
    let Some(url) = url else {
        problems
            .push("is a bmc host without praxis_redfish_url; set it to the Redfish URL".to_owned());
        return None;
    };
    match check_redfish_url(&url) {
        RedfishUrlCheck::Valid => Some(RedfishTarget {
            url,
            credential,
            address,
        }),
        RedfishUrlCheck::Invalid(reason) => {
            problems.push(format!("praxis_redfish_url {reason}"));
            None
        }
        RedfishUrlCheck::HoldsCredentials => {
            problems.push(
                "variable praxis_redfish_url holds a secret (user information in the URL); \
                 praxis inventories carry credential references only \
                 (praxis_redfish_credential = \"name\")"
                    .to_owned(),
            );
            None
        }
    }
}

/// The verdict on a Redfish URL.
enum RedfishUrlCheck {
    /// The URL is usable.
    Valid,
    /// The URL is malformed; the reason completes "`praxis_redfish_url` ...".
    Invalid(&'static str),
    /// The URL carries user information (a user name and perhaps a password).
    HoldsCredentials,
}

/// Checks a Redfish URL: `https://` or `http://`, a non-empty authority, no user information,
/// no whitespace or control characters.
fn check_redfish_url(url: &str) -> RedfishUrlCheck {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return RedfishUrlCheck::Invalid("must start with https:// or http://");
    };
    if url.len() > 2048
        || url
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
    {
        return RedfishUrlCheck::Invalid(
            "must be at most 2048 characters without spaces or control characters",
        );
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return RedfishUrlCheck::HoldsCredentials;
    }
    if authority.is_empty() {
        return RedfishUrlCheck::Invalid("must name a host after the scheme");
    }
    RedfishUrlCheck::Valid
}

/// How `ansible_host` and Talos addresses must look.
const NETWORK_ADDRESS_RULE: &str = "an address is 1 to 255 letters, digits, '.', '_', '-', ':' \
    or '%' (a host name, an IPv4 or a bare IPv6 address) and does not start with '-'";

/// Whether a text is a plausible host name or IP address, and cannot be read as an option.
fn is_valid_network_address(address: &str) -> bool {
    (1..=255).contains(&address.len())
        && !address.starts_with('-')
        && address.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-' | b':' | b'%')
        })
}

/// Whether a text is a plausible login name (Windows domain forms included).
fn is_valid_user_name(user: &str) -> bool {
    (1..=256).contains(&user.len())
        && !user.starts_with('-')
        && user.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-' | b'@' | b'\\' | b'$')
        })
}

/// Whether a text is a credential reference: a short name, never a secret.
fn is_valid_credential_reference(reference: &str) -> bool {
    (1..=128).contains(&reference.len())
        && reference
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Whether a text is one public key line: a known algorithm, base64 key data and an optional
/// comment, all on one line.
fn is_valid_ssh_host_key(key: &str) -> bool {
    if key.len() > 16_384 || key.chars().any(char::is_control) {
        return false;
    }
    let mut words = key.split_whitespace();
    let (Some(algorithm), Some(key_data)) = (words.next(), words.next()) else {
        return false;
    };
    let key_body = key_data.trim_end_matches('=');
    SSH_HOST_KEY_ALGORITHMS.contains(&algorithm)
        && !key_body.is_empty()
        && key_data.len() - key_body.len() <= 2
        && key_body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/'))
}

/// A port from a number or a numeric string, when it is from 1 to 65535.
fn port_from_value(value: &Value) -> Option<u16> {
    let number = match value {
        Value::Number(number) => number.as_u64()?,
        Value::String(text) if !text.is_empty() && text.len() <= 5 => {
            if !text.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            text.parse::<u64>().ok()?
        }
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            return None;
        }
    };
    u16::try_from(number).ok().filter(|port| *port != 0)
}

/// A string variable; `None` when it is unset or null. Any other type is a problem.
fn string_variable(
    variables: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    match variables.get(name) {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Null) | None => None,
        Some(Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_)) => {
            problems.push(format!("{name} must be a string"));
            None
        }
    }
}

/// A list of addresses, from a list of strings or a comma-separated string; `None` when unset
/// or of the wrong type (the wrong type is a problem).
fn address_list_variable(
    variables: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<String>> {
    let items: Vec<String> = match variables.get(name) {
        None | Some(Value::Null) => return None,
        Some(Value::String(text)) if text.trim().is_empty() => Vec::new(),
        Some(Value::String(text)) => text.split(',').map(|item| item.trim().to_owned()).collect(),
        Some(Value::Array(values)) => {
            let mut items = Vec::with_capacity(values.len());
            for value in values {
                if let Value::String(text) = value {
                    items.push(text.clone());
                } else {
                    problems.push(format!("{name} must be a list of strings"));
                    return None;
                }
            }
            items
        }
        Some(Value::Bool(_) | Value::Number(_) | Value::Object(_)) => {
            problems.push(format!(
                "{name} must be a list of addresses or a comma-separated string"
            ));
            return None;
        }
    };
    for item in &items {
        if !is_valid_network_address(item) {
            problems.push(format!(
                "{name} has the entry {}; {NETWORK_ADDRESS_RULE}",
                quoted_for_message(item)
            ));
        }
    }
    Some(items)
}

/// A text quoted and escaped for an error message, cut to 64 characters. Only used for values
/// of variables whose names are not secret.
fn quoted_for_message(text: &str) -> String {
    const LIMIT: usize = 64;
    if text.chars().count() > LIMIT {
        let prefix: String = text.chars().take(LIMIT).collect();
        format!("{prefix:?}...")
    } else {
        format!("{text:?}")
    }
}

/// A JSON value shown briefly in an error message.
fn value_for_message(value: &Value) -> String {
    match value {
        Value::String(text) => quoted_for_message(text),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => "null".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHByYXhpcy10ZXN0LWtleQ";
    const REDFISH_URL: &str = "https://127.0.0.1:8000/redfish/v1/Systems/1";

    const FLEET_INI: &str = r#"# The lab fleet, as Ansible's INI inventory.
[web]
web-1 ansible_host=127.0.10.1 ansible_port=2222 praxis_ssh_host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHByYXhpcy10ZXN0LWtleQ"
web-2 ansible_host=127.0.10.2

[linux:children]
web

[linux:vars]
ansible_user=aiops

[control_plane]
cp-1 ansible_host=10.5.0.2 praxis_host_type=talos praxis_talos_nodes=10.5.0.2,10.5.0.3 praxis_talos_endpoints=10.5.0.2

[bmc]
bmc-1 praxis_redfish_url=https://127.0.0.1:8000/redfish/v1/Systems/1 praxis_redfish_credential=lab-bmc

[windows]
win-1 ansible_host=127.0.10.9 ansible_user=Administrator
"#;

    const FLEET_YAML: &str = r"# The lab fleet, as Ansible's YAML inventory.
all:
  children:
    linux:
      vars:
        ansible_user: aiops
      children:
        web:
          hosts:
            web-1:
              ansible_host: 127.0.10.1
              ansible_port: 2222
              praxis_ssh_host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHByYXhpcy10ZXN0LWtleQ
            web-2:
              ansible_host: 127.0.10.2
    control_plane:
      hosts:
        cp-1:
          ansible_host: 10.5.0.2
          praxis_host_type: talos
          praxis_talos_nodes: [10.5.0.2, 10.5.0.3]
          praxis_talos_endpoints: [10.5.0.2]
    bmc:
      hosts:
        bmc-1:
          praxis_redfish_url: https://127.0.0.1:8000/redfish/v1/Systems/1
          praxis_redfish_credential: lab-bmc
    windows:
      hosts:
        win-1:
          ansible_host: 127.0.10.9
          ansible_user: Administrator
";

    /// The fleet as `ansible-inventory -i fleet.ini --list` prints it: host variables merged
    /// with their group variables, `ansible_port` an integer, the talos lists plain strings.
    const FLEET_JSON: &str = r#"{
    "_meta": {
        "hostvars": {
            "bmc-1": {
                "praxis_redfish_credential": "lab-bmc",
                "praxis_redfish_url": "https://127.0.0.1:8000/redfish/v1/Systems/1"
            },
            "cp-1": {
                "ansible_host": "10.5.0.2",
                "praxis_host_type": "talos",
                "praxis_talos_endpoints": "10.5.0.2",
                "praxis_talos_nodes": "10.5.0.2,10.5.0.3"
            },
            "web-1": {
                "ansible_host": "127.0.10.1",
                "ansible_port": 2222,
                "ansible_user": "aiops",
                "praxis_ssh_host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHByYXhpcy10ZXN0LWtleQ"
            },
            "web-2": {
                "ansible_host": "127.0.10.2",
                "ansible_user": "aiops"
            },
            "win-1": {
                "ansible_host": "127.0.10.9",
                "ansible_user": "Administrator"
            }
        }
    },
    "all": {
        "children": [
            "ungrouped",
            "linux",
            "control_plane",
            "bmc",
            "windows"
        ]
    },
    "bmc": {
        "hosts": [
            "bmc-1"
        ]
    },
    "control_plane": {
        "hosts": [
            "cp-1"
        ]
    },
    "linux": {
        "children": [
            "web"
        ]
    },
    "web": {
        "hosts": [
            "web-1",
            "web-2"
        ]
    },
    "windows": {
        "hosts": [
            "win-1"
        ]
    }
}
"#;

    const FLEET_TOML: &str = r#"# The lab fleet, as a praxis TOML inventory.
[hosts.web-1]
host_type = "linux"
groups = ["linux", "web"]
ssh = { address = "127.0.10.1", port = 2222, user = "aiops", host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHByYXhpcy10ZXN0LWtleQ" }

[hosts.web-2]
host_type = "linux"
groups = ["linux", "web"]
ssh = { address = "127.0.10.2", user = "aiops" }

[hosts.cp-1]
host_type = "talos"
groups = ["control_plane"]
talos = { nodes = ["10.5.0.2", "10.5.0.3"], endpoints = ["10.5.0.2"] }

[hosts.bmc-1]
host_type = "bmc"
groups = ["bmc"]
redfish = { url = "https://127.0.0.1:8000/redfish/v1/Systems/1", credential = "lab-bmc" }

[hosts.win-1]
host_type = "windows"
groups = ["windows"]
ssh = { address = "127.0.10.9", user = "Administrator" }
"#;

    fn group_set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn ssh_host(name: &str, address: &str, port: u16, user: &str, host_key: Option<&str>) -> Host {
        Host {
            name: name.to_owned(),
            host_type: if name.starts_with("win") {
                HostType::Windows
            } else {
                HostType::Linux
            },
            groups: if name.starts_with("win") {
                group_set(&["windows"])
            } else {
                group_set(&["linux", "web"])
            },
            connection: Connection {
                ssh: Some(SshTarget {
                    address: address.to_owned(),
                    port,
                    user: Some(user.to_owned()),
                    host_key: host_key.map(str::to_owned),
                }),
                ..Connection::default()
            },
        }
    }

    fn expected_fleet() -> Inventory {
        let hosts = [
            ssh_host("web-1", "127.0.10.1", 2222, "aiops", Some(HOST_KEY)),
            ssh_host("web-2", "127.0.10.2", 22, "aiops", None),
            ssh_host("win-1", "127.0.10.9", 22, "Administrator", None),
            Host {
                name: "cp-1".to_owned(),
                host_type: HostType::Talos,
                groups: group_set(&["control_plane"]),
                connection: Connection {
                    talos: Some(TalosTarget {
                        nodes: vec!["10.5.0.2".to_owned(), "10.5.0.3".to_owned()],
                        endpoints: vec!["10.5.0.2".to_owned()],
                    }),
                    ..Connection::default()
                },
            },
            Host {
                name: "bmc-1".to_owned(),
                host_type: HostType::Bmc,
                groups: group_set(&["bmc"]),
                connection: Connection {
                    redfish: Some(RedfishTarget {
                        url: REDFISH_URL.to_owned(),
                        credential: Some("lab-bmc".to_owned()),
                        address: None,
                    }),
                    ..Connection::default()
                },
            },
        ];
        Inventory {
            hosts: hosts
                .into_iter()
                .map(|host| (host.name.clone(), host))
                .collect(),
        }
    }

    fn messages(errors: &[InventoryError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    fn errors_of(format: Format, text: &str) -> Vec<String> {
        match parse(format, text) {
            Ok(inventory) => panic!("expected errors, parsed {inventory:?}\n{text}"),
            Err(errors) => messages(&errors),
        }
    }

    #[test]
    fn the_same_fleet_parses_equal_in_every_format() {
        let expected = expected_fleet();
        let from_ini = parse(Format::Ini, FLEET_INI).unwrap();
        let from_yaml = parse(Format::Yaml, FLEET_YAML).unwrap();
        let from_json = parse(Format::AnsibleJson, FLEET_JSON).unwrap();
        let from_toml = parse(Format::PraxisToml, FLEET_TOML).unwrap();
        assert_eq!(from_ini, expected);
        assert_eq!(from_yaml, expected);
        assert_eq!(from_json, expected);
        assert_eq!(from_toml, expected);
    }

    #[test]
    fn format_detection_finds_each_sample() {
        assert_eq!(Format::detect("fleet.ini", FLEET_INI), Some(Format::Ini));
        assert_eq!(Format::detect("hosts.cfg", ""), Some(Format::Ini));
        assert_eq!(Format::detect("fleet.yml", FLEET_YAML), Some(Format::Yaml));
        assert_eq!(Format::detect("FLEET.YAML", FLEET_YAML), Some(Format::Yaml));
        assert_eq!(
            Format::detect("fleet.json", FLEET_JSON),
            Some(Format::AnsibleJson)
        );
        assert_eq!(
            Format::detect("/etc/praxis/fleet.toml", FLEET_TOML),
            Some(Format::PraxisToml)
        );
        assert_eq!(Format::detect("hosts", FLEET_INI), Some(Format::Ini));
        assert_eq!(Format::detect("hosts", FLEET_YAML), Some(Format::Yaml));
        assert_eq!(
            Format::detect("hosts", FLEET_JSON),
            Some(Format::AnsibleJson)
        );
        assert_eq!(
            Format::detect("hosts", FLEET_TOML),
            Some(Format::PraxisToml)
        );
        assert_eq!(
            Format::detect("inventory.txt", "---\nlinux:\n"),
            Some(Format::Yaml)
        );
        assert_eq!(
            Format::detect(".hosts", "web:\n  hosts:\n"),
            Some(Format::Yaml)
        );
        assert_eq!(
            Format::detect("hosts", "[hosts]\nweb-1\n"),
            Some(Format::Ini)
        );
        assert_eq!(
            Format::detect("hosts", "web-1 a=\"b: c\"\n[web]\n"),
            Some(Format::Ini)
        );
        assert_eq!(Format::detect("hosts", ""), None);
        assert_eq!(Format::detect("hosts", "just some words\n"), None);
        for (name, format) in [
            ("ini", Format::Ini),
            ("yaml", Format::Yaml),
            ("json", Format::AnsibleJson),
            ("toml", Format::PraxisToml),
        ] {
            assert_eq!(Format::from_name(name), Some(format));
        }
        assert_eq!(Format::from_name("yml"), None);
    }

    #[test]
    fn host_types_round_trip_by_name() {
        for host_type in HostType::ALL {
            assert_eq!(HostType::from_name(host_type.as_str()), Some(host_type));
            let praxis_group = format!("praxis_{}", host_type.as_str());
            assert_eq!(HostType::from_group_name(&praxis_group), Some(host_type));
        }
        assert_eq!(HostType::from_name("Linux"), None);
        assert_eq!(HostType::from_group_name("praxis_praxis_linux"), None);
    }

    #[test]
    fn host_json_uses_type_names() {
        let inventory = parse(Format::PraxisToml, FLEET_TOML).unwrap();
        let value = host_json(&inventory.hosts["cp-1"]);
        assert_eq!(
            value,
            serde_json::json!({
                "name": "cp-1",
                "host_type": "talos",
                "groups": ["control_plane"],
                "connection": {
                    "ssh": null,
                    "talos": {"nodes": ["10.5.0.2", "10.5.0.3"], "endpoints": ["10.5.0.2"]},
                    "redfish": null
                }
            })
        );
    }

    #[test]
    fn a_host_without_a_type_is_an_error() {
        let errors = errors_of(Format::Ini, "[misc]\nbox-1 ansible_connection=ssh\n");
        assert_eq!(
            errors,
            [
                "host box-1: cannot tell its host_type; set praxis_host_type or put it in one of the \
              groups linux, talos, bmc, windows, cloud"
            ]
        );
        // The name says "linux" and the variables say SSH, but nothing is guessed from them.
        errors_of(
            Format::Yaml,
            "all:\n  hosts:\n    linux-box:\n      ansible_connection: ssh\n",
        );
    }

    #[test]
    fn conflicting_type_groups_are_an_error_unless_the_variable_decides() {
        let errors = errors_of(Format::Ini, "[talos]\nnode-1\n[praxis_linux]\nnode-1\n");
        assert_eq!(
            errors,
            ["host node-1: is in both linux and talos; set praxis_host_type"]
        );
        let errors = errors_of(Format::Ini, "[talos]\nx\n[linux]\nx\n[cloud]\nx\n");
        assert_eq!(
            errors,
            ["host x: is in linux, talos and cloud; set praxis_host_type"]
        );
        let decided = parse(
            Format::Ini,
            "[talos]\nnode-1 praxis_host_type=talos\n[linux]\nnode-1\n",
        )
        .unwrap();
        assert_eq!(decided.hosts["node-1"].host_type, HostType::Talos);
    }

    #[test]
    fn types_come_from_parent_groups_and_group_variables() {
        let text = "[site_a:children]\nracks\n[racks]\nr-1\n[talos:children]\nsite_a\n";
        let inventory = parse(Format::Ini, text).unwrap();
        assert_eq!(inventory.hosts["r-1"].host_type, HostType::Talos);
        let text = "[edge:vars]\npraxis_host_type=cloud\n[edge]\nfn-1\n";
        let inventory = parse(Format::Ini, text).unwrap();
        assert_eq!(inventory.hosts["fn-1"].host_type, HostType::Cloud);
        assert_eq!(inventory.hosts["fn-1"].connection, Connection::default());
        let errors = errors_of(Format::Ini, "[x]\nh praxis_host_type=Linux\n");
        assert!(
            errors[0].contains("praxis_host_type is \"Linux\""),
            "{errors:?}"
        );
        let errors = errors_of(
            Format::Yaml,
            "all:\n  hosts:\n    h: {praxis_host_type: [linux]}\n",
        );
        assert!(errors[0].contains("must be a string"), "{errors:?}");
    }

    #[test]
    fn secret_variable_names_are_refused_without_showing_values() {
        const SECRET: &str = "Hunter2-SuperSecretValue";
        let mut variable_names: Vec<&str> = SECRET_VARIABLE_NAMES.to_vec();
        variable_names.extend([
            "api_token",
            "db_PASSWORD",
            "ldap_passwd",
            "client_secret",
            "my_private_key",
        ]);
        for variable in variable_names {
            let ini = format!("[linux]\nweb-1 {variable}={SECRET}\n");
            let yaml = format!("linux:\n  hosts:\n    web-1:\n      {variable}: {SECRET}\n");
            let json = format!(
                r#"{{"_meta": {{"hostvars": {{"web-1": {{"{variable}": "{SECRET}"}}}}}}, "linux": {{"hosts": ["web-1"]}}}}"#
            );
            let toml = format!("[hosts.web-1]\nhost_type = \"linux\"\n{variable} = \"{SECRET}\"\n");
            for (format, text) in [
                (Format::Ini, ini),
                (Format::Yaml, yaml),
                (Format::AnsibleJson, json),
                (Format::PraxisToml, toml),
            ] {
                let errors = errors_of(format, &text);
                assert_eq!(
                    errors,
                    [format!(
                        "host web-1: variable {variable} holds a secret; praxis inventories carry \
                         credential references only (praxis_redfish_credential = \"name\")"
                    )],
                    "{format:?}"
                );
            }
        }
    }

    #[test]
    fn secret_values_are_refused_without_showing_them() {
        const SECRET: &str = "Hunter2-SuperSecretValue";
        let vault_blob = format!("$ANSIBLE_VAULT;1.1;AES256\n{SECRET}");
        let cases = [
            (
                Format::Ini,
                format!("[linux]\nweb-1 db_login=\"$ANSIBLE_VAULT;1.1;AES256;{SECRET}\"\n"),
            ),
            (
                Format::Yaml,
                format!(
                    "linux:\n  hosts:\n    web-1:\n      db_login: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        {SECRET}\n"
                ),
            ),
            (
                Format::Yaml,
                format!(
                    "linux:\n  vars:\n    db_login: !vault |\n      {SECRET}\n  hosts:\n    web-1:\n"
                ),
            ),
            (
                Format::Yaml,
                format!(
                    "linux:\n  hosts:\n    web-1:\n      db_login: {{nested: [{vault_blob:?}]}}\n"
                ),
            ),
            (
                Format::AnsibleJson,
                format!(
                    r#"{{"_meta": {{"hostvars": {{"web-1": {{"db_login": {{"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\n{SECRET}"}}}}}}}}, "linux": {{"hosts": ["web-1"]}}}}"#
                ),
            ),
            (
                Format::Yaml,
                format!(
                    "linux:\n  hosts:\n    web-1:\n      db_login: \"-----BEGIN OPENSSH PRIVATE KEY-----\\n{SECRET}\"\n"
                ),
            ),
            (
                Format::PraxisToml,
                format!(
                    "[hosts.web-1]\nhost_type = \"linux\"\nssh = {{ user = \"$ANSIBLE_VAULT;{SECRET}\" }}\n"
                ),
            ),
        ];
        for (format, text) in cases {
            let errors = errors_of(format, &text);
            assert_eq!(errors.len(), 1, "{format:?} {text}: {errors:?}");
            assert!(
                errors[0].starts_with("host web-1: variable db_login")
                    || errors[0].starts_with("host web-1: variable ssh.user"),
                "{errors:?}"
            );
            assert!(errors[0].contains("holds a secret"), "{errors:?}");
            assert!(!errors[0].contains(SECRET), "{errors:?}");
        }
        // A secret in a connection variable is reported once, and no other check quotes it.
        let errors = errors_of(
            Format::Ini,
            &format!("[linux]\nweb-1 ansible_user=\"$ANSIBLE_VAULT;1.1;AES256;{SECRET}\"\n"),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("variable ansible_user holds a secret"),
            "{errors:?}"
        );
        assert!(!errors[0].contains(SECRET), "{errors:?}");
        let url = format!("https://admin:{SECRET}@10.0.0.5/redfish/v1");
        let errors = errors_of(
            Format::Ini,
            &format!("[bmc]\nbmc-1 praxis_redfish_url={url}\n"),
        );
        assert!(
            errors[0].contains("holds a secret") && !errors[0].contains(SECRET),
            "{errors:?}"
        );
        // A secret inherited from a group is reported for every host, by name only.
        let errors = errors_of(
            Format::Ini,
            &format!("[linux]\na\nb\n[linux:vars]\nansible_become_pass={SECRET}\n"),
        );
        assert_eq!(errors.len(), 2);
        assert!(errors.iter().all(|error| !error.contains(SECRET)));
    }

    #[test]
    fn bad_ports_are_errors() {
        for port in ["0", "70000", "abc", "-1", "true", "22.5", "\"\"", "\" 22\""] {
            let errors = errors_of(
                Format::Ini,
                &format!("[linux]\nweb-1 ansible_port={port}\n"),
            );
            assert_eq!(errors.len(), 1, "{port}: {errors:?}");
            assert!(errors[0].contains("ansible_port"), "{errors:?}");
        }
        let errors = errors_of(
            Format::PraxisToml,
            "[hosts.w]\nhost_type = \"linux\"\nssh = { port = 65536 }\n",
        );
        assert!(errors[0].contains("ansible_port is 65536"), "{errors:?}");
        let inventory = parse(
            Format::Ini,
            "[linux]\nweb-1 ansible_port=\"2200\"\nweb-2:65535\n",
        )
        .unwrap();
        assert_eq!(
            inventory.hosts["web-1"]
                .connection
                .ssh
                .as_ref()
                .unwrap()
                .port,
            2200
        );
        assert_eq!(
            inventory.hosts["web-2"]
                .connection
                .ssh
                .as_ref()
                .unwrap()
                .port,
            65535
        );
    }

    #[test]
    fn bad_host_and_group_names_are_errors() {
        let long_name = "a".repeat(254);
        for name in [
            "-web",
            ".web",
            "web!1",
            "wéb",
            long_name.as_str(),
            "web:abc",
        ] {
            let errors = errors_of(Format::Ini, &format!("[linux]\n{name}\n"));
            assert!(
                errors[0].contains("invalid host name"),
                "{name}: {errors:?}"
            );
        }
        let errors = errors_of(Format::Yaml, "linux:\n  hosts:\n    \"bad\\nname\":\n");
        assert!(
            errors[0].starts_with("host \"bad\\nname\": invalid host name"),
            "{errors:?}"
        );
        let longest = "a".repeat(253);
        parse(Format::Ini, &format!("[linux]\n{longest}\nweb_1.lab-2\n")).unwrap();
        let errors = errors_of(
            Format::PraxisToml,
            "[hosts.w]\nhost_type = \"linux\"\ngroups = [\"web.prod\"]\n",
        );
        assert!(
            errors[0].contains("group name \"web.prod\" is invalid"),
            "{errors:?}"
        );
        errors_of(Format::Ini, "[web.prod]\nw praxis_host_type=linux\n");
    }

    #[test]
    fn bmc_hosts_need_a_valid_url() {
        let errors = errors_of(Format::Ini, "[bmc]\nbmc-1 praxis_redfish_credential=lab\n");
        assert_eq!(
            errors,
            ["host bmc-1: is a bmc host without praxis_redfish_url; set it to the Redfish URL"]
        );
        for url in [
            "ftp://x/redfish",
            "https://",
            "https:///redfish",
            "10.0.0.5/redfish",
        ] {
            let errors = errors_of(
                Format::Ini,
                &format!("[bmc]\nbmc-1 praxis_redfish_url={url}\n"),
            );
            assert!(
                errors[0].contains("praxis_redfish_url"),
                "{url}: {errors:?}"
            );
        }
        let errors = errors_of(
            Format::Ini,
            "[bmc]\nbmc-1 praxis_redfish_url=http://x praxis_redfish_credential=\"a b\"\n",
        );
        assert!(errors[0].contains("credential reference"), "{errors:?}");
        let inventory = parse(
            Format::Ini,
            "[bmc]\nbmc-1 praxis_redfish_url=http://10.0.0.5\n",
        )
        .unwrap();
        assert_eq!(
            inventory.hosts["bmc-1"].connection.redfish,
            Some(RedfishTarget {
                url: "http://10.0.0.5".to_owned(),
                credential: None,
                address: None,
            })
        );
    }

    #[test]
    fn connection_values_are_checked_and_defaulted() {
        let inventory = parse(
            Format::Ini,
            "[talos]\ncp-1\ncp-2 ansible_host=10.0.0.2\n[linux]\nweb-1\n",
        )
        .unwrap();
        assert_eq!(
            inventory.hosts["cp-1"]
                .connection
                .talos
                .as_ref()
                .unwrap()
                .nodes,
            ["cp-1"]
        );
        assert_eq!(
            inventory.hosts["cp-2"]
                .connection
                .talos
                .as_ref()
                .unwrap()
                .nodes,
            ["10.0.0.2"]
        );
        assert!(inventory.hosts["cp-2"].connection.ssh.is_none());
        assert_eq!(
            inventory.hosts["web-1"].connection.ssh,
            Some(SshTarget {
                address: "web-1".to_owned(),
                ..SshTarget::default()
            })
        );
        for line in [
            "web-1 ansible_host=-oProxyCommand=x",
            "web-1 ansible_user=-oProxyCommand=x",
            "web-1 ansible_user=\"two words\"",
            "web-1 ansible_host=1",
            "web-1 praxis_ssh_host_key=AAAA",
            "web-1 praxis_ssh_host_key=\"ssh-foo AAAA\"",
            "web-1 praxis_ssh_host_key=\"ssh-ed25519 AA!A\"",
            "web-1 praxis_hosttype=linux",
        ] {
            let errors = errors_of(Format::Ini, &format!("[linux]\n{line}\n"));
            assert_eq!(errors.len(), 1, "{line}: {errors:?}");
        }
        for line in [
            "cp-1 praxis_talos_nodes=\"\"",
            "cp-1 praxis_talos_nodes=a,,b",
            "cp-1 praxis_talos_endpoints=\"a b\"",
            "cp-1 praxis_talos_nodes=5",
        ] {
            let errors = errors_of(Format::Ini, &format!("[talos]\n{line}\n"));
            assert_eq!(errors.len(), 1, "{line}: {errors:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_and_any_problem_means_no_inventory() {
        let text = "[linux]\ngood-1\nbad-1 ansible_port=0\n[misc]\nbad-2\n[bmc]\nbad-3\n";
        let errors = errors_of(Format::Ini, text);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("host bad-1:"));
        assert!(errors[1].starts_with("host bad-2:"));
        assert!(errors[2].starts_with("host bad-3:"));
    }

    #[test]
    fn malformed_text_is_an_error_in_every_format() {
        for (format, text) in [
            (Format::Ini, "[linux\nweb-1\n"),
            (Format::Ini, "[linux:hosts]\nweb-1\n"),
            (Format::Yaml, "all:\n  hosts: [\n"),
            (Format::Yaml, "all:\n\thosts:\n"),
            (Format::AnsibleJson, "{\"all\": "),
            (Format::AnsibleJson, "not json"),
            (Format::PraxisToml, "[hosts.web-1\nhost_type = \"linux\"\n"),
            (Format::PraxisToml, "[hosts.web-1]\nhost_type = linux\n"),
        ] {
            let errors = errors_of(format, text);
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|error| !error.is_empty()));
        }
    }

    #[test]
    fn empty_inventories_are_valid_in_every_format() {
        for (format, text) in [
            (Format::Ini, ""),
            (
                Format::Ini,
                "# nothing yet\n[linux]\n[linux:vars]\nansible_user=aiops\n",
            ),
            (Format::Yaml, ""),
            (Format::Yaml, "all:\n  children:\n    linux:\n"),
            (
                Format::AnsibleJson,
                "{\"_meta\": {\"hostvars\": {}}, \"all\": {\"children\": [\"ungrouped\"]}}",
            ),
            (Format::PraxisToml, ""),
        ] {
            assert_eq!(parse(format, text), Ok(Inventory::default()), "{format:?}");
        }
    }

    #[test]
    fn size_caps_are_enforced() {
        let oversized = " ".repeat(MAX_TEXT_BYTES + 1);
        for format in [
            Format::Ini,
            Format::Yaml,
            Format::AnsibleJson,
            Format::PraxisToml,
        ] {
            let errors = errors_of(format, &oversized);
            assert!(errors[0].contains("10 MiB"), "{errors:?}");
        }
        let errors = errors_of(Format::Ini, "[linux]\nh[000000:100000]\n");
        assert!(errors[0].contains("more than 100000"), "{errors:?}");
        let errors = errors_of(
            Format::Ini,
            "[linux]\na[00001:60000]\nb[00001:60000]\nc[1:9]\n",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("more than 100000 hosts"), "{errors:?}");
    }

    #[test]
    fn display_names_the_host_when_there_is_one() {
        assert_eq!(
            InventoryError::for_host("web-1", "m").to_string(),
            "host web-1: m"
        );
        assert_eq!(InventoryError::without_host("m").to_string(), "m");
        assert_eq!(
            InventoryError::for_host("a\nb", "m").to_string(),
            "host \"a\\nb\": m"
        );
    }

    /// Pieces of inventory syntax, so that generated texts reach past the first syntax check.
    const FRAGMENTS: &[&str] = &[
        "[",
        "]",
        "[web]",
        "[web:vars]",
        "[web:children]",
        "[hosts.web-1]",
        "all:",
        "  hosts:",
        "    web-1:",
        "  vars:",
        "  children:",
        "\n",
        " ",
        "=",
        "\"",
        "'",
        "#",
        ";",
        ":",
        "{",
        "}",
        ",",
        "web[01:03]",
        "db-[a:c]",
        "[0:99999999999]",
        "host_type = \"linux\"",
        "praxis_host_type=talos",
        "ansible_port=22",
        "ansible_port=0",
        "!vault",
        "$ANSIBLE_VAULT",
        "&a",
        "*a",
        "<<: *a",
        "- ",
        "\"_meta\"",
        "\"hosts\": [",
        "\"web-1\"",
        "]",
        "null",
        "\\",
        "ssh = {",
        "port = 2222",
        "linux",
        "talos",
        "bmc",
        "praxis_redfish_url=https://x",
        "\u{feff}",
        "é",
        "\t",
        "\r\n",
    ];

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            for format in [Format::Ini, Format::Yaml, Format::AnsibleJson, Format::PraxisToml] {
                drop(parse(format, &text));
            }
            let _detected = Format::detect(&text, &text);
        }

        #[test]
        fn inventory_like_text_never_panics(
            pieces in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..48),
        ) {
            let text = pieces.concat();
            for format in [Format::Ini, Format::Yaml, Format::AnsibleJson, Format::PraxisToml] {
                drop(parse(format, &text));
            }
            let _detected = Format::detect("hosts", &text);
        }
    }

    #[test]
    fn a_bmc_address_is_one_ip_address() {
        let inventory = parse(
            Format::Ini,
            "[bmc]\nbmc-1 praxis_redfish_url=https://bmc-1.mgmt:8000/redfish/v1/Systems/1 praxis_redfish_address=10.0.0.5\n",
        )
        .unwrap();
        assert_eq!(
            inventory.hosts["bmc-1"]
                .connection
                .redfish
                .as_ref()
                .unwrap()
                .address,
            Some("10.0.0.5".parse().unwrap())
        );
        let errors = errors_of(
            Format::Ini,
            "[bmc]\nbmc-1 praxis_redfish_url=https://bmc-1.mgmt/redfish/v1 praxis_redfish_address=bmc.example\n",
        );
        assert!(errors[0].contains("praxis_redfish_address"), "{errors:?}");
    }
}
