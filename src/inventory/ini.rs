//! Ansible's INI inventory format.
//!
//! `[group]` sections hold host lines (`name key=value key2="quoted value"`), `[group:vars]`
//! sections hold `key=value` lines and `[group:children]` sections hold child group names.
//! Host lines before any section belong to `ungrouped`. Lines starting with `#` or `;` are
//! comments, and a `#` outside quotes ends a line, as in Ansible (which splits lines with
//! Python's `shlex`). Host names may carry ranges and a `:port` suffix (see `host_pattern`).
//!
//! Values are typed as Ansible reads host-line values (Python literals), narrowed on purpose:
//! an unquoted whole number (no leading zero) is an integer, an unquoted `true`/`false`
//! (or `True`/`False`) is a boolean, and everything else, quoted values included, is a string.
//! The same typing applies to `:vars` lines.
//!
//! Invariants:
//! - Every line-level problem is reported with its line number; any problem means no inventory.
//! - An unknown section kind (`[x:something]`) is an error, and the lines under it are skipped.

use serde_json::Value;

use super::groups::GroupTree;
use super::host_pattern::{expand_host_pattern, split_port};
use super::{
    InventoryError, RawInventory, is_valid_group_name, quoted_for_message, too_many_hosts_error,
};

/// The section the parser is in.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Section {
    /// Host lines of a group.
    Hosts(String),
    /// Variable lines of a group.
    Variables(String),
    /// Child group names of a group.
    Children(String),
    /// The lines under a malformed header, skipped because the header was reported.
    Skipped,
}

/// Reads an INI inventory into a raw inventory.
pub(super) fn parse_ini(text: &str) -> Result<RawInventory, Vec<InventoryError>> {
    let mut tree = GroupTree::new();
    let mut errors = Vec::new();
    let mut section = Section::Hosts("ungrouped".to_owned());
    for (index, raw_line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let outcome = if line.starts_with('[') {
            match parse_section_header(line) {
                Ok(new_section) => {
                    if let Section::Hosts(group)
                    | Section::Variables(group)
                    | Section::Children(group) = &new_section
                    {
                        tree.declare_group(group);
                    }
                    section = new_section;
                    Ok(())
                }
                Err(error) => {
                    section = Section::Skipped;
                    Err(error)
                }
            }
        } else {
            match &section {
                Section::Hosts(group) => parse_host_line(&mut tree, group, line),
                Section::Variables(group) => parse_variable_line(&mut tree, group, line),
                Section::Children(group) => parse_child_line(&mut tree, group, line),
                Section::Skipped => Ok(()),
            }
        };
        if let Err(mut error) = outcome {
            let is_fatal = error == too_many_hosts_error();
            error.message = format!("line {line_number}: {}", error.message);
            errors.push(error);
            if is_fatal {
                break;
            }
        }
    }
    if errors.is_empty() {
        tree.resolve()
    } else {
        Err(errors)
    }
}

/// Reads a `[group]`, `[group:vars]` or `[group:children]` header; a comment may follow it.
fn parse_section_header(line: &str) -> Result<Section, InventoryError> {
    let malformed = || {
        InventoryError::without_host(
            "malformed section header; expected [group], [group:vars] or [group:children]",
        )
    };
    let inside_and_rest = line.strip_prefix('[').ok_or_else(malformed)?;
    let (inside, rest) = inside_and_rest.split_once(']').ok_or_else(malformed)?;
    let rest = rest.trim_start();
    if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
        return Err(malformed());
    }
    let (group, kind) = match inside.split_once(':') {
        Some((group, kind)) => (group, Some(kind)),
        None => (inside, None),
    };
    if !is_valid_group_name(group) {
        return Err(InventoryError::without_host(format!(
            "group name {} is invalid; group names use only letters, digits, '_' and '-'",
            quoted_for_message(group)
        )));
    }
    let group = group.to_owned();
    match kind {
        None => Ok(Section::Hosts(group)),
        Some("vars") => Ok(Section::Variables(group)),
        Some("children") => Ok(Section::Children(group)),
        Some(other) => Err(InventoryError::without_host(format!(
            "unknown section kind [{group}:{}]; only :vars and :children exist",
            other.chars().take(64).collect::<String>().escape_debug()
        ))),
    }
}

/// Reads a host line: a host pattern, then `key=value` variables.
fn parse_host_line(tree: &mut GroupTree, group: &str, line: &str) -> Result<(), InventoryError> {
    let tokens = tokenize(line).map_err(InventoryError::without_host)?;
    let Some((pattern_token, variable_tokens)) = tokens.split_first() else {
        return Ok(());
    };
    let mut variables = Vec::with_capacity(variable_tokens.len());
    for (position, token) in variable_tokens.iter().enumerate() {
        let Some((name, value)) = token.text.split_once('=') else {
            return Err(InventoryError::without_host(format!(
                "expected a key=value host variable as word {} of the line (the word is not \
                 quoted here, in case it is a secret)",
                position + 2
            )));
        };
        check_variable_name(name)?;
        variables.push((name, typed_value(value, token.quoted)));
    }
    let pattern = split_port(&pattern_token.text);
    let names = expand_host_pattern(pattern.name).map_err(InventoryError::without_host)?;
    for name in names {
        tree.add_host(group, &name)?;
        if let Some(port) = pattern.port {
            tree.set_host_variable(&name, "ansible_port", typed_value(port, false))?;
        }
        for (variable, value) in &variables {
            tree.set_host_variable(&name, variable, value.clone())?;
        }
    }
    Ok(())
}

/// Reads a `key=value` line of a `:vars` section. The value may be quoted; unquoted words
/// are joined by single spaces.
fn parse_variable_line(
    tree: &mut GroupTree,
    group: &str,
    line: &str,
) -> Result<(), InventoryError> {
    let Some((name, value_text)) = line.split_once('=') else {
        return Err(InventoryError::without_host(format!(
            "expected key=value in [{group}:vars] (the line is not quoted here, in case it \
             holds a secret)"
        )));
    };
    let name = name.trim();
    check_variable_name(name)?;
    let tokens = tokenize(value_text).map_err(InventoryError::without_host)?;
    let value = match tokens.as_slice() {
        [] => Value::String(String::new()),
        [only] => typed_value(&only.text, only.quoted),
        several => Value::String(
            several
                .iter()
                .map(|token| token.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
    };
    tree.set_group_variable(group, name, value)
}

/// Reads a child group line of a `:children` section.
fn parse_child_line(tree: &mut GroupTree, group: &str, line: &str) -> Result<(), InventoryError> {
    let tokens = tokenize(line).map_err(InventoryError::without_host)?;
    match tokens.as_slice() {
        [] => Ok(()),
        [child] if is_valid_group_name(&child.text) => tree.add_child(group, &child.text),
        [_] | [_, _, ..] => Err(InventoryError::without_host(format!(
            "expected one valid child group name in [{group}:children]; group names use only \
             letters, digits, '_' and '-'"
        ))),
    }
}

/// Checks a variable name: non-empty, without spaces, quotes or control characters.
fn check_variable_name(name: &str) -> Result<(), InventoryError> {
    if !name.is_empty()
        && !name.chars().any(|character| {
            character.is_whitespace() || character.is_control() || matches!(character, '"' | '\'')
        })
    {
        Ok(())
    } else {
        Err(InventoryError::without_host(format!(
            "variable name {} is invalid",
            quoted_for_message(name)
        )))
    }
}

/// A value typed as described in the module documentation.
fn typed_value(text: &str, quoted: bool) -> Value {
    if quoted {
        return Value::String(text.to_owned());
    }
    match text {
        "true" | "True" => Value::Bool(true),
        "false" | "False" => Value::Bool(false),
        _ => integer_literal(text).map_or_else(|| Value::String(text.to_owned()), Value::from),
    }
}

/// An integer written plainly: an optional '-', then digits without a leading zero.
fn integer_literal(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let is_plain = !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if is_plain { text.parse().ok() } else { None }
}

/// One word of a line, after quotes and escapes are removed.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
struct Token {
    /// The text of the word.
    text: String,
    /// Whether any part of the word was quoted.
    quoted: bool,
}

/// Splits a line into words as Python's `shlex` does in POSIX mode with comments: spaces
/// separate words, `"…"` and `'…'` quote (a backslash escapes `"`, `\`, `$` and a backtick inside
/// double quotes, and any character outside quotes), and `#` outside quotes ends the line.
fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut current: Option<Token> = None;
    let mut characters = line.chars();
    while let Some(character) = characters.next() {
        match character {
            '#' => break,
            '"' => {
                let token = current.get_or_insert_with(Token::default);
                token.quoted = true;
                loop {
                    match characters.next() {
                        None => return Err("a double quote is not closed".to_owned()),
                        Some('"') => break,
                        Some('\\') => match characters.next() {
                            Some(escaped @ ('"' | '\\' | '$' | '`')) => token.text.push(escaped),
                            Some(other) => {
                                token.text.push('\\');
                                token.text.push(other);
                            }
                            None => return Err("a double quote is not closed".to_owned()),
                        },
                        Some(other) => token.text.push(other),
                    }
                }
            }
            '\'' => {
                let token = current.get_or_insert_with(Token::default);
                token.quoted = true;
                loop {
                    match characters.next() {
                        None => return Err("a single quote is not closed".to_owned()),
                        Some('\'') => break,
                        Some(other) => token.text.push(other),
                    }
                }
            }
            '\\' => match characters.next() {
                Some(escaped) => current
                    .get_or_insert_with(Token::default)
                    .text
                    .push(escaped),
                None => return Err("the line ends with a lone backslash".to_owned()),
            },
            whitespace if whitespace.is_whitespace() => {
                if let Some(token) = current.take() {
                    tokens.push(token);
                }
            }
            other => current.get_or_insert_with(Token::default).text.push(other),
        }
    }
    if let Some(token) = current {
        tokens.push(token);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::super::{Format, parse};
    use super::*;
    use serde_json::json;

    fn raw(text: &str) -> RawInventory {
        parse_ini(text).unwrap()
    }

    #[test]
    fn ranges_expand_with_padding_and_letters() {
        let inventory = raw("[web]\nweb[01:03] praxis_host_type=linux\n[db]\ndb-[a:c]\n");
        let names: Vec<&str> = inventory.hosts.keys().map(String::as_str).collect();
        assert_eq!(names, ["db-a", "db-b", "db-c", "web01", "web02", "web03"]);
    }

    #[test]
    fn comments_quotes_and_typing() {
        let text = "# a comment\n; another\n[linux]  # trailing comment\n\
                    web-1 a=1 b=\"two words\" c='007' d=007 e=true f=False g=x#comment\n\
                    web-2:2222 h=-5 i=1.5 j=\"\" k=a\\ b # the rest is a comment\n";
        let inventory = raw(text);
        let first = &inventory.hosts["web-1"].variables;
        assert_eq!(first["a"], json!(1));
        assert_eq!(first["b"], json!("two words"));
        assert_eq!(first["c"], json!("007"));
        assert_eq!(first["d"], json!("007"));
        assert_eq!(first["e"], json!(true));
        assert_eq!(first["f"], json!(false));
        assert_eq!(first["g"], json!("x"));
        let second = &inventory.hosts["web-2"].variables;
        assert_eq!(second["ansible_port"], json!(2222));
        assert_eq!(second["h"], json!(-5));
        assert_eq!(second["i"], json!("1.5"));
        assert_eq!(second["j"], json!(""));
        assert_eq!(second["k"], json!("a b"));
    }

    #[test]
    fn vars_precedence_follows_ansible() {
        let text = "[linux:children]\nweb\n\
                    [linux:vars]\nansible_user=parent\nansible_port=2200\nlevel = \"parent level\"\n\
                    [web:vars]\nansible_user=child\n\
                    [all:vars]\nansible_user=everyone\nfrom_all=yes\n\
                    [web]\nweb-1 ansible_port=2201\nweb-2\n";
        let inventory = parse(Format::Ini, text).unwrap();
        let first = inventory.hosts["web-1"].connection.ssh.clone().unwrap();
        let second = inventory.hosts["web-2"].connection.ssh.clone().unwrap();
        assert_eq!(first.user.as_deref(), Some("child"));
        assert_eq!(first.port, 2201);
        assert_eq!(second.port, 2200);
        let raw_inventory = raw(text);
        assert_eq!(
            raw_inventory.hosts["web-2"].variables["from_all"],
            json!("yes")
        );
        assert_eq!(
            raw_inventory.hosts["web-2"].variables["level"],
            json!("parent level")
        );
        let groups: Vec<&str> = inventory.hosts["web-1"]
            .groups
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(groups, ["linux", "web"]);
    }

    #[test]
    fn hosts_before_any_section_are_ungrouped() {
        let inventory = raw("lonely praxis_host_type=cloud\n");
        assert!(inventory.hosts["lonely"].groups.contains("ungrouped"));
        let parsed = parse(Format::Ini, "lonely praxis_host_type=cloud\n").unwrap();
        assert!(parsed.hosts["lonely"].groups.is_empty());
    }

    #[test]
    fn malformed_lines_are_reported_with_line_numbers() {
        let text = "[web:something]\nx\n[web\n[bad group]\n[linux]\nweb-1 novalue\nweb-2 a=\"open\n\
                    [linux:vars]\nnot a pair\n[linux:children]\ntwo words\n";
        let errors = parse_ini(text).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 7, "{messages:#?}");
        assert!(
            messages[0].starts_with("line 1: unknown section kind"),
            "{messages:#?}"
        );
        assert!(messages[1].starts_with("line 3: malformed section header"));
        assert!(messages[2].starts_with("line 4: group name"));
        assert!(messages[3].starts_with("line 6: expected a key=value"));
        assert!(messages[4].starts_with("line 7: a double quote is not closed"));
        assert!(messages[5].starts_with("line 9: expected key=value"));
        assert!(messages[6].starts_with("line 11: expected one valid child group"));
    }

    #[test]
    fn malformed_lines_are_not_quoted() {
        let text = "[all:vars]\nansible_password hunter2-value\n[linux]\nweb-1 hunter2-value\n";
        let errors = parse_ini(text).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(
            errors
                .iter()
                .all(|error| !error.message.contains("hunter2")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_bad_range_is_reported() {
        let errors = parse_ini("[web]\nweb[3:1]\n").unwrap_err();
        assert!(errors[0].message.contains("line 2"), "{errors:?}");
    }

    #[test]
    fn tokenize_follows_shlex() {
        let tokens = tokenize(r#"a "b c" d'e f'g h\ i "\"q\"" 'x\y' # c"#).unwrap();
        let texts: Vec<&str> = tokens.iter().map(|token| token.text.as_str()).collect();
        assert_eq!(texts, ["a", "b c", "de fg", "h i", "\"q\"", "x\\y"]);
        assert!(tokenize("a\\").is_err());
        assert!(tokenize("'open").is_err());
    }
}
