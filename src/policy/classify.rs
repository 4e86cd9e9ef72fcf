//! Classifying a command line: the tier of everything the shell would run, rounded up.
//!
//! `classify_command` parses the line (`policy::shell`), unwraps wrappers (`sudo`, `env`,
//! `timeout`, …), parses the strings given to shells (`sh -c`, `eval`, `ssh host '…'`), and
//! matches every resulting invocation against the structural checks below and the command
//! rules of the policy. The verdict is the highest of all parts; a deny anywhere denies the
//! whole line; a command no rule knows gets the policy's unknown default.
//! Invariants: pure; never panics; adding a part to a line never lowers its verdict.

use std::fmt;

use super::rules::{CommandRule, RuleSet};
use super::shell::{self, Arg, Invocation, ParseFailure, RedirectKind};
use super::{Tier, UnknownDefault};

/// The outcome for a command line, ordered from least to most restrictive.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Verdict {
    Tier(Tier),
    /// Refused: the line could not be parsed with certainty.
    Unparseable,
    /// Refused in every mode, dry runs included; no approval lifts it.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Tier(tier) => formatter.write_str(tier.as_str()),
            Verdict::Unparseable => formatter.write_str("unparseable"),
            Verdict::Deny => formatter.write_str("deny"),
        }
    }
}

/// One reason that contributed to a verdict.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Finding {
    pub rule_id: String,
    pub verdict: Verdict,
    /// The part of the line it is about, rendered.
    pub part: String,
}

/// The classification of one command line.
#[derive(Clone, PartialEq, Eq, Debug)]
#[must_use]
pub struct CommandClassification {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

impl CommandClassification {
    /// The rule ids that produced the verdict (those at the verdict's level), deduplicated.
    pub fn deciding_rule_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .findings
            .iter()
            .filter(|finding| finding.verdict == self.verdict)
            .map(|finding| finding.rule_id.clone())
            .collect();
        ids.dedup();
        ids
    }
}

/// Shells and interpreters: what they read on stdin, they run.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox",
];
const INTERPRETERS: &[&str] = &[
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "php",
    "lua",
    "tclsh",
    "osascript",
];
/// Variables whose assignment changes what later commands run.
const DANGEROUS_VARIABLES: &[&str] = &[
    "PATH",
    "IFS",
    "BASH_ENV",
    "ENV",
    "PROMPT_COMMAND",
    "SHELLOPTS",
    "PS4",
    "BASHOPTS",
];
/// Raw block devices (writing them destroys data).
const RAW_DISK_PREFIXES: &[&str] = &[
    "/dev/sd",
    "/dev/nvme",
    "/dev/vd",
    "/dev/hd",
    "/dev/xvd",
    "/dev/mmcblk",
];

/// Classifies `command` for `adapter` with `rules`.
pub fn classify_command(
    rules: &RuleSet,
    adapter: &str,
    command: &str,
    unknown_default: UnknownDefault,
) -> CommandClassification {
    let mut classifier = Classifier {
        rules,
        adapter,
        unknown_default,
        findings: Vec::new(),
    };
    classifier.line(command, 0);
    let verdict = classifier
        .findings
        .iter()
        .map(|finding| finding.verdict)
        .max()
        .unwrap_or(Verdict::Tier(Tier::T0));
    CommandClassification {
        verdict,
        findings: classifier.findings,
    }
}

struct Classifier<'rules> {
    rules: &'rules RuleSet,
    adapter: &'rules str,
    unknown_default: UnknownDefault,
    findings: Vec<Finding>,
}

fn render(argv: &[Arg]) -> String {
    argv.iter()
        .map(|arg| {
            if arg.dynamic {
                format!("{}«dynamic»", arg.text)
            } else {
                arg.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command name as the shell would look it up: quotes removed, directories dropped.
fn command_name(arg: &Arg) -> String {
    arg.text.rsplit('/').next().unwrap_or(&arg.text).to_owned()
}

impl Classifier<'_> {
    fn find(&mut self, rule_id: &str, verdict: Verdict, part: String) {
        self.findings.push(Finding {
            rule_id: rule_id.to_owned(),
            verdict,
            part,
        });
    }

    /// Classifies a whole command line found at nesting `depth`.
    fn line(&mut self, text: &str, depth: usize) {
        let mut parsed = shell::ParsedCommand::default();
        match shell::parse_into(text, depth, &mut parsed) {
            Ok(()) => {}
            Err(failure) => {
                let detail = match failure {
                    ParseFailure::Syntax(message) => message,
                    ParseFailure::TooDeep => format!("nested deeper than {}", shell::MAX_DEPTH),
                    ParseFailure::TooLong => "longer than the limit".to_owned(),
                };
                self.find(
                    "structure.unparseable",
                    Verdict::Unparseable,
                    crate::audit::cut(&detail, 200),
                );
                return;
            }
        }
        if parsed.hidden_substitution {
            self.find(
                "structure.hidden-substitution",
                Verdict::Tier(Tier::T2),
                "a substitution inside an expansion".into(),
            );
        }
        for function in &parsed.functions {
            self.find(
                "structure.function-definition",
                Verdict::Tier(Tier::T2),
                format!("{function}() {{ … }}"),
            );
        }
        for function in &parsed.self_piping_functions {
            self.find(
                "deny.fork-bomb",
                Verdict::Deny,
                format!("{function}() {{ {function} | {function} & }}"),
            );
        }
        for invocation in &parsed.invocations {
            if invocation
                .argv
                .first()
                .is_some_and(|name| parsed.functions.contains(&name.text))
            {
                self.find(
                    "structure.function-shadows-command",
                    Verdict::Tier(Tier::T2),
                    render(&invocation.argv),
                );
            }
            self.invocation(invocation, &invocation.argv, invocation.depth);
        }
    }

    fn invocation(&mut self, invocation: &Invocation, argv: &[Arg], depth: usize) {
        let part = render(argv);
        for (name, value) in &invocation.assignments {
            if DANGEROUS_VARIABLES.contains(&name.as_str()) || name.starts_with("LD_") {
                self.find(
                    "structure.dangerous-assignment",
                    Verdict::Tier(Tier::T2),
                    format!("{name}={}", value.text),
                );
            }
        }
        self.redirects(invocation, &part);
        let Some(first) = argv.first() else {
            return;
        };
        // `[` is the test builtin, not a glob.
        if first.dynamic || (first.expands && first.text != "[") {
            self.find("structure.dynamic-command", Verdict::Tier(Tier::T2), part);
            return;
        }
        let name = command_name(first);
        if invocation.piped_input || invocation.stdin_from_here_document {
            let base = name
                .trim_end_matches(|character: char| character.is_ascii_digit() || character == '.');
            if SHELLS.contains(&name.as_str()) || INTERPRETERS.contains(&base) {
                self.find(
                    "structure.input-into-shell",
                    Verdict::Tier(Tier::T3),
                    part.clone(),
                );
            }
        }
        if self.unwrap(invocation, &name, argv, depth) {
            return;
        }
        self.secret_reads(argv, &part);
        self.rules(&name, argv, &part);
    }

    /// Wrappers run another command; it is classified in their place (with the wrapper's own
    /// rule still applied). Returns whether `argv` was a wrapper.
    #[expect(
        clippy::too_many_lines,
        reason = "one table of wrappers and how each finds the command it runs"
    )]
    fn unwrap(&mut self, invocation: &Invocation, name: &str, argv: &[Arg], depth: usize) -> bool {
        let rest = &argv[1..];
        let (inner, string_arguments): (Option<&[Arg]>, Option<String>) = match name {
            "sudo" | "doas" => {
                let spawns = rest
                    .iter()
                    .take_while(|arg| arg.text.starts_with('-'))
                    .any(|arg| {
                        arg.text == "-s"
                            || arg.text == "-i"
                            || arg.text == "--shell"
                            || arg.text == "--login"
                    });
                if spawns {
                    self.find(
                        "structure.shell-spawn",
                        Verdict::Tier(Tier::T3),
                        render(argv),
                    );
                    return true;
                }
                (
                    Some(skip_options(
                        rest,
                        &[
                            "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user",
                            "--group",
                        ],
                    )),
                    None,
                )
            }
            "env" => {
                let after_options = skip_options(rest, &["-u", "-C", "-S", "--unset", "--chdir"]);
                let mut index = 0;
                while index < after_options.len()
                    && after_options[index].text.contains('=')
                    && !after_options[index].text.starts_with('=')
                {
                    let (variable, _) = after_options[index]
                        .text
                        .split_once('=')
                        .unwrap_or_default();
                    if DANGEROUS_VARIABLES.contains(&variable) || variable.starts_with("LD_") {
                        self.find(
                            "structure.dangerous-assignment",
                            Verdict::Tier(Tier::T2),
                            after_options[index].text.clone(),
                        );
                    }
                    index += 1;
                }
                (Some(&after_options[index..]), None)
            }
            "command" | "builtin" | "exec" | "nohup" | "setsid" | "time" | "unbuffer" => {
                (Some(skip_options(rest, &[])), None)
            }
            "nice" => (Some(skip_options(rest, &["-n", "--adjustment"])), None),
            "ionice" => (
                Some(skip_options(
                    rest,
                    &["-c", "-n", "-p", "--class", "--classdata"],
                )),
                None,
            ),
            "stdbuf" => (Some(skip_options(rest, &["-i", "-o", "-e"])), None),
            "timeout" => {
                let after = skip_options(rest, &["-s", "-k", "--signal", "--kill-after"]);
                (Some(after.get(1..).unwrap_or(&[])), None)
            }
            "chroot" | "flock" => {
                let after =
                    skip_options(rest, &["--userspec", "--groups", "-w", "-E", "--timeout"]);
                (Some(after.get(1..).unwrap_or(&[])), None)
            }
            "nsenter" => {
                let position = rest.iter().position(|arg| arg.text == "--");
                (
                    Some(position.map_or(&[][..], |position| &rest[position + 1..])),
                    None,
                )
            }
            "xargs" => (
                Some(skip_options(
                    rest,
                    &[
                        "-I",
                        "-n",
                        "-P",
                        "-L",
                        "-d",
                        "-E",
                        "-s",
                        "-a",
                        "--arg-file",
                        "--delimiter",
                        "--max-args",
                        "--max-procs",
                        "--replace",
                    ],
                )),
                None,
            ),
            "watch" => {
                let after = skip_options(rest, &["-n", "-d", "--interval", "--differences"]);
                (None, Some(join_static(after)))
            }
            "eval" => (None, Some(join_static(rest))),
            "alias" => {
                // Each `name=body` defines what `name` will run: the body is classified.
                self.rules_only(name, argv);
                for definition in rest {
                    if let Some((_, body)) = definition.text.split_once('=') {
                        self.line(body, depth + 1);
                    }
                }
                return true;
            }
            "su" => {
                let command = rest
                    .windows(2)
                    .find(|pair| pair[0].text == "-c" || pair[0].text == "--command")
                    .map(|pair| pair[1].clone());
                match command {
                    Some(command) if !command.dynamic => (None, Some(command.text)),
                    Some(_) => {
                        self.find(
                            "structure.dynamic-command",
                            Verdict::Tier(Tier::T2),
                            render(argv),
                        );
                        return true;
                    }
                    None => {
                        self.find(
                            "structure.shell-spawn",
                            Verdict::Tier(Tier::T3),
                            render(argv),
                        );
                        return true;
                    }
                }
            }
            _ if SHELLS.contains(&name) => {
                let command = rest.iter().position(|arg| {
                    arg.text.starts_with('-')
                        && !arg.text.starts_with("--")
                        && arg.text.contains('c')
                });
                match command.and_then(|position| rest.get(position + 1)) {
                    Some(command) if !command.dynamic => (None, Some(command.text.clone())),
                    Some(_) => {
                        self.find(
                            "structure.dynamic-command",
                            Verdict::Tier(Tier::T2),
                            render(argv),
                        );
                        return true;
                    }
                    None => {
                        if !(invocation.piped_input || invocation.stdin_from_here_document) {
                            self.find(
                                "structure.shell-spawn",
                                Verdict::Tier(Tier::T3),
                                render(argv),
                            );
                        }
                        return true;
                    }
                }
            }
            "find" => {
                self.find_exec(rest, depth);
                return false;
            }
            "ssh" => {
                self.find("network.ssh", Verdict::Tier(Tier::T2), render(argv));
                let operands = skip_options(
                    rest,
                    &[
                        "-p", "-i", "-l", "-o", "-F", "-J", "-L", "-R", "-D", "-b", "-c", "-E",
                        "-e", "-m", "-O", "-Q", "-S", "-W", "-w",
                    ],
                );
                if operands.len() > 1 {
                    self.line(&join_static(&operands[1..]), depth + 1);
                }
                return true;
            }
            _ => (None, None),
        };
        if let Some(text) = string_arguments {
            self.find_wrapper(name, argv);
            self.line(&text, depth + 1);
            return true;
        }
        if let Some(inner) = inner {
            if inner.is_empty() {
                // A wrapper that runs nothing is judged by its own rules alone (`env` prints
                // the environment); with no rule for that use it is an unknown command.
                if name == "env" {
                    self.find("t0.env", Verdict::Tier(Tier::T0), render(argv));
                } else {
                    self.find(
                        "structure.wrapper-without-command",
                        Verdict::Tier(Tier::T2),
                        render(argv),
                    );
                }
                return true;
            }
            self.find_wrapper(name, argv);
            self.invocation(invocation, inner, depth);
            return true;
        }
        false
    }

    fn find_wrapper(&mut self, name: &str, argv: &[Arg]) {
        // The wrapper itself is harmless; its own rules (if any) still apply.
        self.rules_only(name, argv);
    }

    /// `find … -exec CMD … ;` runs CMD: it is classified as an invocation of its own.
    fn find_exec(&mut self, rest: &[Arg], depth: usize) {
        let mut index = 0;
        while index < rest.len() {
            let text = rest[index].text.as_str();
            if matches!(text, "-exec" | "-execdir" | "-ok" | "-okdir") {
                let end = rest[index + 1..]
                    .iter()
                    .position(|arg| arg.text == ";" || arg.text == "+")
                    .map_or(rest.len(), |offset| index + 1 + offset);
                let inner = &rest[index + 1..end];
                if !inner.is_empty() {
                    let nested = Invocation {
                        argv: inner.to_vec(),
                        depth,
                        ..Invocation::default()
                    };
                    self.invocation(&nested, inner, depth);
                }
                index = end;
            }
            index += 1;
        }
    }

    fn redirects(&mut self, invocation: &Invocation, part: &str) {
        for redirect in &invocation.redirects {
            let target = &redirect.target;
            let path = target.text.as_str();
            if path.starts_with("/dev/tcp/") || path.starts_with("/dev/udp/") {
                self.find(
                    "network.dev-tcp",
                    Verdict::Tier(Tier::T2),
                    format!("{part} ↔ {path}"),
                );
                continue;
            }
            match redirect.kind {
                RedirectKind::Write | RedirectKind::Append | RedirectKind::ReadWrite => {
                    if let Some((rule_id, verdict)) = write_target_verdict(target) {
                        self.find(rule_id, verdict, format!("{part} > {path}"));
                    }
                }
                RedirectKind::Read => {
                    if is_secret_path(path) {
                        self.find(
                            "read.secret-path",
                            Verdict::Tier(Tier::T2),
                            format!("{part} < {path}"),
                        );
                    }
                }
                RedirectKind::Duplicate => {}
            }
        }
    }

    fn secret_reads(&mut self, argv: &[Arg], part: &str) {
        if argv[1..].iter().any(|arg| is_secret_path(&arg.text)) {
            self.find("read.secret-path", Verdict::Tier(Tier::T2), part.to_owned());
        }
    }

    /// Matches the command rules; a command no rule matches gets the unknown default (a known
    /// command used in a way no rule describes is as unknown as an unknown command).
    fn rules(&mut self, name: &str, argv: &[Arg], part: &str) {
        if !self.rules_only(name, argv) {
            match self.unknown_default {
                UnknownDefault::Approval => self.find(
                    "default.unknown-command",
                    Verdict::Tier(Tier::T2),
                    part.to_owned(),
                ),
                UnknownDefault::Reject => self.find(
                    "default.unknown-command-rejected",
                    Verdict::Deny,
                    part.to_owned(),
                ),
            }
        }
    }

    /// Applies every matching rule; returns whether any matched.
    fn rules_only(&mut self, name: &str, argv: &[Arg]) -> bool {
        let mut matched = false;
        let part = render(argv);
        for rule in self.rules.for_command(self.adapter, name) {
            if rule_matches(rule, argv) {
                matched = true;
                self.find(&rule.id, rule.verdict, part.clone());
            }
        }
        matched
    }
}

/// Skips options (and the values of options that take one) up to the first operand.
fn skip_options<'arg>(args: &'arg [Arg], with_value: &[&str]) -> &'arg [Arg] {
    let mut index = 0;
    while index < args.len() {
        let text = args[index].text.as_str();
        if text == "--" {
            return &args[index + 1..];
        }
        if !text.starts_with('-') || text == "-" {
            break;
        }
        if with_value.contains(&text) {
            index += 1;
        }
        index += 1;
    }
    &args[index.min(args.len())..]
}

/// The static words joined with spaces (a dynamic word makes the joined text unreliable, so
/// it is kept as a marker the parser will flag).
fn join_static(args: &[Arg]) -> String {
    args.iter()
        .map(|arg| {
            if arg.dynamic {
                "$praxis_dynamic_word".to_owned()
            } else {
                arg.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What writing to a redirection target means; `None` for harmless sinks (`/dev/null`, fds).
fn write_target_verdict(target: &Arg) -> Option<(&'static str, Verdict)> {
    let path = target.text.as_str();
    if RAW_DISK_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix))
    {
        Some(("deny.raw-disk-redirect", Verdict::Deny))
    } else if path.ends_with("authorized_keys") || path.ends_with("authorized_keys2") {
        Some(("t3.authorized-keys-write", Verdict::Tier(Tier::T3)))
    } else if path.starts_with("/etc/") || path == "/etc" {
        Some(("t2.etc-write", Verdict::Tier(Tier::T2)))
    } else if target.dynamic || target.expands {
        Some(("redirect.dynamic-target", Verdict::Tier(Tier::T2)))
    } else if matches!(path, "/dev/null" | "/dev/stdout" | "/dev/stderr" | "-")
        || path.starts_with("/dev/fd/")
        || path.chars().all(|character| character.is_ascii_digit())
    {
        None
    } else {
        Some(("t1.file-write", Verdict::Tier(Tier::T1)))
    }
}

/// Paths whose contents are secrets: reading them is never T0.
pub fn is_secret_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.starts_with("/etc/shadow")
        || lower.starts_with("/etc/gshadow")
        || lower.starts_with("/etc/sudoers")
        || lower.contains("/.ssh/")
        || lower.starts_with("~/.ssh")
        || lower.starts_with("/etc/ssl/private")
        || lower.contains("/.kube/config")
        || lower.contains("kubeconfig")
        || lower.contains("/.aws/credentials")
        || lower.contains("/.docker/config.json")
        || (lower.starts_with("/proc/") && lower.ends_with("/environ"))
        || has_extension(&lower, "pem")
        || has_extension(&lower, "key")
        || lower.contains("id_rsa")
        || lower.contains("id_ed25519")
        || lower.contains("id_ecdsa")
        || lower.ends_with("/etc/praxis/praxis.toml")
}

/// Whether `path` (already lowercased) ends in `.extension`.
fn has_extension(path: &str, extension: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|found| found == extension)
}

/// Whether a command rule matches these arguments.
fn rule_matches(rule: &CommandRule, argv: &[Arg]) -> bool {
    let arguments = &argv[1..];
    let (options, operands) = split_options(arguments);
    if let Some(subcommands) = &rule.subcommand {
        let Some(first) = operands.first() else {
            return false;
        };
        if !subcommands
            .iter()
            .any(|subcommand| subcommand.eq_ignore_ascii_case(&first.text))
        {
            return false;
        }
    }
    if !rule.any_option.is_empty()
        && !rule
            .any_option
            .iter()
            .any(|wanted| has_option(&options, wanted))
    {
        return false;
    }
    if rule
        .no_option
        .iter()
        .any(|unwanted| has_option(&options, unwanted))
    {
        return false;
    }
    if !rule
        .all_options
        .iter()
        .all(|wanted| has_option(&options, wanted))
    {
        return false;
    }
    if let Some(pattern) = &rule.any_operand
        && !operands
            .iter()
            .any(|operand| pattern.is_match(&normalize_path(&operand.text)))
    {
        return false;
    }
    if let Some(pattern) = &rule.any_arg
        && !arguments.iter().any(|arg| pattern.is_match(&arg.text))
    {
        return false;
    }
    if let Some(pattern) = &rule.no_arg
        && arguments.iter().any(|arg| pattern.is_match(&arg.text))
    {
        return false;
    }
    if let Some(limit) = rule.max_operands
        && operands.len() > limit
    {
        return false;
    }
    if let Some(limit) = rule.min_operands
        && operands.len() < limit
    {
        return false;
    }
    let last = operands.last().map(|operand| normalize_path(&operand.text));
    if let Some(pattern) = &rule.last_operand
        && !last.as_deref().is_some_and(|last| pattern.is_match(last))
    {
        return false;
    }
    if let Some(pattern) = &rule.no_last_operand
        && last.as_deref().is_some_and(|last| pattern.is_match(last))
    {
        return false;
    }
    true
}

/// Splits arguments into options (before `--`) and operands.
fn split_options(args: &[Arg]) -> (Vec<&Arg>, Vec<&Arg>) {
    let mut options = Vec::new();
    let mut operands = Vec::new();
    let mut after_separator = false;
    for arg in args {
        if !after_separator && arg.text == "--" {
            after_separator = true;
            continue;
        }
        if !after_separator && arg.text.starts_with('-') && arg.text.len() > 1 {
            options.push(arg);
        } else {
            operands.push(arg);
        }
    }
    (options, operands)
}

/// Whether `wanted` (`-r`, `--recursive`, `--force=`) is among `options`; a short option also
/// matches inside a cluster (`-rf` has `-r`).
fn has_option(options: &[&Arg], wanted: &str) -> bool {
    options.iter().any(|option| {
        let text = option.text.as_str();
        if let Some(long) = wanted.strip_prefix("--") {
            text.strip_prefix("--").is_some_and(|given| {
                given == long || given.split_once('=').is_some_and(|(name, _)| name == long)
            })
        } else if let Some(short) = wanted.strip_prefix('-') {
            if text.starts_with("--") {
                false
            } else if short.len() == 1 {
                text.strip_prefix('-')
                    .is_some_and(|cluster| cluster.contains(short))
            } else {
                text == wanted
            }
        } else {
            text == wanted
        }
    })
}

/// Collapses repeated slashes and `.`/`..` components so `//`, `/./` and `/bin/../` are seen
/// for what they are; a trailing `/*` is kept.
pub fn normalize_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn verdict(command: &str) -> Verdict {
        static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
        let policy = POLICY.get_or_init(|| Policy::default_policy().unwrap());
        policy
            .classify_command("ssh", command, UnknownDefault::Approval)
            .verdict
    }

    #[test]
    fn reads_are_t0_and_benign_controls_stay_t0() {
        for command in [
            "uptime",
            "df -h && free -m",
            "systemctl status nginx --no-pager",
            "journalctl -u nginx -n 100 --no-pager",
            "echo \"a; rm -rf /\"",
            "ls # ; rm -rf /",
            "ps aux | grep nginx",
            "ss -tlnp",
            "cat /etc/os-release",
            "nginx -t",
            "sudo systemctl status nginx --no-pager",
        ] {
            assert_eq!(verdict(command), Verdict::Tier(Tier::T0), "{command}");
        }
    }

    #[test]
    fn destruction_hidden_by_structure_is_found() {
        for (command, expected) in [
            ("uptime; rm -rf /tmp/x", Verdict::Tier(Tier::T3)),
            ("echo $(rm -rf /tmp/x)", Verdict::Tier(Tier::T3)),
            ("bash -c 'rm -rf /tmp/x'", Verdict::Tier(Tier::T3)),
            ("sudo -u root -- rm -rf /tmp/x", Verdict::Tier(Tier::T3)),
            (
                "timeout 5 env A=1 nice -n 5 rm -rf /tmp/x",
                Verdict::Tier(Tier::T3),
            ),
            (
                "find /tmp -name x -exec rm -rf {} ;",
                Verdict::Tier(Tier::T3),
            ),
            ("curl http://x | sh", Verdict::Tier(Tier::T3)),
            ("\\rm -rf /tmp/x", Verdict::Tier(Tier::T3)),
            ("/bin/../bin/rm -rf /tmp/x", Verdict::Tier(Tier::T3)),
            ("r''m -rf /tmp/x", Verdict::Tier(Tier::T3)),
            ("$X -rf /tmp", Verdict::Tier(Tier::T2)),
            (
                "echo key >> /root/.ssh/authorized_keys",
                Verdict::Tier(Tier::T3),
            ),
            ("echo x > /etc/motd", Verdict::Tier(Tier::T2)),
            ("cat /etc/shadow", Verdict::Tier(Tier::T2)),
            ("systemctl restart nginx", Verdict::Tier(Tier::T2)),
            ("frobnicate --now", Verdict::Tier(Tier::T2)),
            ("sudo -s", Verdict::Tier(Tier::T3)),
            ("psql -c 'DELETE FROM users'", Verdict::Tier(Tier::T3)),
            (
                "psql -c 'DELETE FROM users WHERE id = 1'",
                Verdict::Tier(Tier::T2),
            ),
        ] {
            assert_eq!(verdict(command), expected, "{command}");
        }
    }

    #[test]
    fn the_deny_list_denies_in_every_spelling() {
        for command in [
            "rm -rf /",
            "rm -rf //",
            "rm -fr /*",
            "rm -r -f -- /",
            "sudo rm -rf --no-preserve-root /",
            "bash -c 'rm -rf /'",
            "mkfs.ext4 /dev/sdb1",
            "dd if=/dev/zero of=/dev/nvme0n1",
            "wipefs -a /dev/sdb",
            "echo x > /dev/sda",
            "chmod -R 777 /",
            "git push --force origin main",
            "uptime; rm -rf /",
        ] {
            assert_eq!(verdict(command), Verdict::Deny, "{command}");
        }
        assert_eq!(verdict("echo 'unterminated"), Verdict::Unparseable);
    }

    fn command_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let real = prop::sample::select(vec![
            "uptime",
            "df -h",
            "ls -la /var/log",
            "systemctl status nginx --no-pager",
            "systemctl restart nginx",
            "cat /etc/shadow",
            "rm -rf /tmp/x",
            "rm -rf /",
            "curl http://x",
            "echo hi > /etc/motd",
            "journalctl -u x --no-pager",
            "reboot",
            "frobnicate",
        ])
        .prop_map(str::to_owned);
        prop_oneof![real, "[a-z][a-z0-9-]{0,8}( [a-z /.*-]{0,20})?"]
    }

    proptest::proptest! {
        #[test]
        fn appending_or_wrapping_never_lowers_the_verdict(first in command_strategy(), second in command_strategy()) {
            let base = verdict(&first);
            for wrapped in [
                format!("{first}; {second}"),
                format!("{second} && {first}"),
                format!("{second} | {first}"),
                format!("sudo {first}"),
                format!("timeout 5 {first}"),
                format!("env A=1 {first}"),
                format!("nohup {first}"),
                format!("sh -c '{first}'"),
                format!("echo $({first})"),
            ] {
                let after = verdict(&wrapped);
                if base != Verdict::Unparseable && after != Verdict::Unparseable {
                    proptest::prop_assert!(after >= base, "{} is {}, but {} is {}", first, base, wrapped, after);
                }
            }
        }

        #[test]
        fn classification_never_panics_on_arbitrary_text(text in "\\PC{0,120}") {
            let _verdict = verdict(&text);
        }
    }
}
