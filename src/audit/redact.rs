//! Redaction of secrets before anything reaches the audit log.
//!
//! The audit log records tool arguments and error messages, and it must never
//! contain a secret. This module offers three entry points: `is_secret_key`
//! decides whether a JSON object key names a secret, `redact_text` replaces
//! secret-looking substrings of free text, and `redact_value` applies both to
//! a whole JSON value.
//!
//! The invariants are these:
//!
//! - Every secret that is found is replaced by `REDACTED`, and the text around
//!   it is kept, so that the log stays useful.
//! - Redaction is idempotent: redacting already redacted text changes nothing.
//!   The steps run until they reach a fixed point, which is what guarantees it.
//! - Text without anything secret-looking is returned borrowed, after a single
//!   scan by one combined regex, because that is by far the most common case.
//!   Only the steps whose own candidate pattern matched run on the rest.
//! - Matching is conservative: when in doubt, a value is redacted.
//! - `redact_value` never recurses deeper than `MAXIMUM_VALUE_DEPTH` levels,
//!   whatever the depth of its input.
//!
//! Only secrets of a known shape are found. The steps of `redact_text` are, in
//! order: PEM private key blocks; tokens whose prefix names the service that
//! issued them (AWS, GitHub, GitLab, npm, `PyPI`, Slack, `OpenAI`, Anthropic,
//! Hugging Face, `DigitalOcean`, Stripe, Google, JWTs); `Authorization` header
//! values; bearer tokens; `name=value` pairs whose name `is_secret_key`
//! accepts, including `--flag=value`; `--flag value`; the password in
//! `scheme://user:password@host`; and `-pPASSWORD` next to a `mysql` client.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet};
use serde_json::{Map, Value};

/// The marker that replaces a secret.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// The marker that replaces a container nested deeper than [`MAXIMUM_VALUE_DEPTH`].
const DEPTH_LIMIT_MARKER: &str = "[REDACTED:depth-limit]";

/// The deepest level at which [`redact_value`] still descends into a container.
///
/// The top-level value is at depth 0, so a container at depth 33 or more is
/// replaced by [`DEPTH_LIMIT_MARKER`].
const MAXIMUM_VALUE_DEPTH: usize = 32;

/// How many times [`redact_text`] runs its steps at most before it stops looking for a fixed point.
const MAXIMUM_REDACTION_PASSES: usize = 4;

/// Words that make a key secret when any of its tokens contains them.
const SECRET_KEY_CONTAINED_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "credential",
    "authorization",
    "bearer",
    "privkey",
    "privatekey",
    "apikey",
    "accesskey",
    "sessionkey",
    "signingkey",
    "encryptionkey",
    "cookie",
];

/// Words that make a key secret when one of its tokens is exactly that word.
///
/// These words are short, so a substring search would over-match: `footprint`
/// contains `otp` and `bypass` contains `pass`.
const SECRET_KEY_WHOLE_TOKENS: &[&str] = &[
    "pass",
    "pw",
    "pwd",
    "otp",
    "totp",
    "hotp",
    "pin",
    "auth",
    "sig",
    "signature",
    "psk",
    "jwt",
    "cvv",
];

/// Pairs of adjacent tokens that make a key secret, such as `api` followed by `key`.
const SECRET_KEY_ADJACENT_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("app", "key"),
    ("priv", "key"),
    ("private", "key"),
    ("access", "key"),
    ("session", "key"),
    ("session", "id"),
    ("secret", "key"),
    ("master", "key"),
    ("shared", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("client", "secret"),
    ("auth", "token"),
    ("refresh", "token"),
];

/// Lowercase words, one of which occurs in every key that [`is_secret_key`] accepts.
///
/// The candidate scan uses them to notice `key=value` pairs and command line
/// flags cheaply. A test checks that this list covers the three lists above.
const SECRET_KEY_TRIGGER_WORDS: &str =
    "pass|pw|secret|token|credential|auth|bearer|key|cookie|otp|pin|sig|psk|jwt|cvv|session";

/// The private key block of a PEM file, or everything after an unterminated one.
const PEM_PRIVATE_KEY_PATTERN: &str = r"-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----|\z)";

/// The start of a PEM private key block, which is enough to decide that text needs work.
const PEM_PRIVATE_KEY_START_PATTERN: &str = r"-----BEGIN[A-Z0-9 ]* PRIVATE KEY";

/// Well-known token formats of cloud and developer services, as one alternation.
///
/// The alternation is matched in one pass, so that when formats overlap the
/// match that starts first wins and no part of a token is left behind. Where a
/// format allows it, the match goes on over trailing `[A-Za-z0-9_-]` so that a
/// longer token is redacted whole.
const SERVICE_TOKEN_PATTERN: &str = concat!(
    r"(?-u:\b)(?:",
    r"A(?:KIA|SIA)[0-9A-Z]{16}(?-u:\b)",
    r"|gh[pousr]_[A-Za-z0-9_]{20,}",
    r"|github_pat_[A-Za-z0-9_]{20,}",
    r"|glpat-[A-Za-z0-9_-]{20,}",
    r"|npm_[A-Za-z0-9]{36,}[A-Za-z0-9_-]*",
    r"|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{16,}",
    r"|xox[baprs]-[A-Za-z0-9-]{10,}",
    r"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{16,}",
    r"|sk-ant-[A-Za-z0-9]+-[A-Za-z0-9_-]{20,}",
    r"|sk-[A-Za-z0-9]{20,}[A-Za-z0-9_-]*",
    r"|hf_[A-Za-z0-9]{20,}[A-Za-z0-9_-]*",
    r"|do[opr]_v1_[a-fA-F0-9]{40,}",
    r"|[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,}[A-Za-z0-9_-]*",
    r"|AIza[A-Za-z0-9_-]{35,}",
    r"|ya29\.[A-Za-z0-9_-]{20,}",
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{6,}",
    r")",
);

/// An `Authorization` or `Proxy-Authorization` header, with its value in the second group.
const AUTHORIZATION_HEADER_PATTERN: &str = r#"(?-u:\b)(?P<prefix>(?i-u:(?:proxy-)?authorization)["']?[ \t]*[:=][ \t]*["']?)(?P<value>[^\r\n"']+)"#;

/// The word `bearer` followed by a token.
const BEARER_TOKEN_PATTERN: &str =
    r"(?-u:\b)(?P<prefix>(?i-u:bearer)[ \t]+)(?P<value>[A-Za-z0-9._~+/=-]+)";

/// The start of a bearer token, which is enough to decide that text needs work.
const BEARER_TOKEN_START_PATTERN: &str = r"(?i-u:bearer)[ \t]+[A-Za-z0-9._~+/=-]";

/// A name made of identifier characters that contains a trigger word.
///
/// Every name that [`is_secret_key`] accepts has this shape, so the steps that
/// look at names only have to call [`is_secret_key`] for names of this shape.
fn secret_name_candidate_pattern() -> String {
    format!(r"[A-Za-z0-9_.-]*(?i-u:{SECRET_KEY_TRIGGER_WORDS})[A-Za-z0-9_.-]*")
}

/// A command line flag followed by whitespace and a value, as in `--name value`.
///
/// The value never starts with `-`, so that the next flag is not taken for a
/// value, nor with `=` or `:`. The forms `--name=value` and `--name = value`
/// are handled by the pair step, which sees every `name=value`.
fn command_line_flag_pattern() -> String {
    let name = secret_name_candidate_pattern();
    format!(
        concat!(
            r"--?(?P<name>{name})[ \t]+",
            r#"(?P<value>"(?:[^"\\\r\n]|\\.)*"?|'[^'\r\n]*'?|[^\s"'=:-][^\s"']*)"#,
        ),
        name = name
    )
}

/// The userinfo of a URL or DSN, `scheme://user:password@`.
///
/// The password is greedy up to the last `@` before the path, so it may contain
/// colons and `@` signs.
const URL_USERINFO_PATTERN: &str = concat!(
    r"(?-u:\b)(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)",
    r#"(?P<user>[^\s:/?#@"'<>\[\]]*):(?P<password>[^\s/?#"'<>]+)@"#,
);

/// The part of [`URL_USERINFO_PATTERN`] that is enough to decide that text needs work.
const URL_USERINFO_START_PATTERN: &str = r"://[^\s/?#]*@";

/// The compact password flag `-pPASSWORD` of the `mysql` family of clients.
const MYSQL_COMPACT_PASSWORD_PATTERN: &str =
    r#"-p(?P<value>"(?:[^"\\\r\n]|\\.)*"?|'[^'\r\n]*'?|[^\s"']+)"#;

/// A MySQL-family client name, whose presence makes `-pVALUE` a password.
const MYSQL_CLIENT_PATTERN: &str = r"(?i-u)\b(?:mysql[a-z_]*|mariadb(?:-[a-z]+)?|mycli)\b";

/// Compiles a regex set from patterns that are literals of this module.
#[expect(
    clippy::expect_used,
    reason = "the pattern is a literal tested by unit tests"
)]
fn compile_literal_pattern_set(patterns: &[String]) -> RegexSet {
    RegexSet::new(patterns).expect("a redaction pattern literal must compile")
}

/// Compiles a regex from a pattern that is a literal of this module.
#[expect(
    clippy::expect_used,
    reason = "the pattern is a literal tested by unit tests"
)]
fn compile_literal_pattern(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a redaction pattern literal must compile")
}

/// One pattern per redaction step, in the order of [`REDACTION_STEPS`], that
/// matches wherever that step could change the text.
///
/// Each pattern is a superset of its step: it may match text that the step
/// leaves alone, but the step changes no text that it does not match. A test
/// checks this on every example.
static REDACTION_STEP_CANDIDATES: LazyLock<RegexSet> = LazyLock::new(|| {
    let authorization_header_candidate = r#"(?i-u:authorization)["']?[ \t]*[:=]"#.to_owned();
    let key_value_pair_candidate = format!(
        r#"(?:(?i-u:{SECRET_KEY_TRIGGER_WORDS})[A-Za-z0-9_.-]*|{})["']?\s*[=:]"#,
        regex::escape(REDACTED)
    );
    let command_line_flag_candidate = format!(r"-[A-Za-z0-9_.-]*(?i-u:{SECRET_KEY_TRIGGER_WORDS})");
    let candidates: [String; REDACTION_STEP_COUNT] = [
        PEM_PRIVATE_KEY_START_PATTERN.to_owned(),
        SERVICE_TOKEN_PATTERN.to_owned(),
        authorization_header_candidate,
        BEARER_TOKEN_START_PATTERN.to_owned(),
        key_value_pair_candidate,
        command_line_flag_candidate,
        URL_USERINFO_START_PATTERN.to_owned(),
        MYSQL_CLIENT_PATTERN.to_owned(),
    ];
    compile_literal_pattern_set(&candidates)
});

/// The alternation of all [`REDACTION_STEP_CANDIDATES`], for the common case of
/// text that matches none of them.
///
/// A single regex answers "does anything match" faster than the set does, and
/// the set is asked which steps matched only when something did.
static ANY_REDACTION_STEP_CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    let alternation = REDACTION_STEP_CANDIDATES
        .patterns()
        .iter()
        .map(|candidate| format!("(?:{candidate})"))
        .collect::<Vec<_>>()
        .join("|");
    compile_literal_pattern(&alternation)
});

static PEM_PRIVATE_KEY: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(PEM_PRIVATE_KEY_PATTERN));

static SERVICE_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(SERVICE_TOKEN_PATTERN));

static AUTHORIZATION_HEADER: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(AUTHORIZATION_HEADER_PATTERN));

static BEARER_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(BEARER_TOKEN_PATTERN));

/// Finds a trigger word in a key under Unicode case folding.
///
/// Most keys contain no trigger word, and this check is much cheaper than
/// splitting the key into tokens. Unicode case folding matches every character
/// whose lowercase form is an ASCII letter (such as the Kelvin sign for `k`),
/// so no key that [`SECRET_KEY_TOKENS`] would accept is turned away.
static SECRET_KEY_TRIGGER_IN_ANY_CASE: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(&format!("(?i:{SECRET_KEY_TRIGGER_WORDS})")));

/// Matches the output of [`lowercase_tokens_joined_by_spaces`] for a secret key.
///
/// It is built from the three word lists: a contained word anywhere, a whole
/// token between spaces, or an adjacent pair of tokens between spaces.
static SECRET_KEY_TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    let contained_words = SECRET_KEY_CONTAINED_WORDS.join("|");
    let whole_tokens = SECRET_KEY_WHOLE_TOKENS.join("|");
    let adjacent_pairs = SECRET_KEY_ADJACENT_PAIRS
        .iter()
        .map(|(first, second)| format!("{first} {second}"))
        .collect::<Vec<_>>()
        .join("|");
    compile_literal_pattern(&format!(
        "(?:{contained_words})|(?:^| )(?:{whole_tokens}|{adjacent_pairs})(?: |$)"
    ))
});

/// Any trigger word, found case-insensitively, or the [`REDACTED`] marker.
///
/// Every secret name contains a trigger word. The marker counts as a secret
/// name too: it stands where a token was, and text such as
/// `AKIA...:wJalr...` or `ghp_...password=hunter2` puts a secret right after it.
static SECRET_NAME_TRIGGER: LazyLock<Regex> = LazyLock::new(|| {
    let marker = regex::escape(REDACTED);
    compile_literal_pattern(&format!("(?i-u:{SECRET_KEY_TRIGGER_WORDS})|{marker}"))
});

static COMMAND_LINE_FLAG: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(&command_line_flag_pattern()));

static URL_USERINFO: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(URL_USERINFO_PATTERN));

static MYSQL_COMPACT_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(MYSQL_COMPACT_PASSWORD_PATTERN));

static MYSQL_CLIENT: LazyLock<Regex> =
    LazyLock::new(|| compile_literal_pattern(MYSQL_CLIENT_PATTERN));

/// How many redaction steps there are.
const REDACTION_STEP_COUNT: usize = 8;

/// The redaction steps, in the order in which they are applied.
///
/// Each step returns the new text, or `None` when it changed nothing.
const REDACTION_STEPS: [fn(&str) -> Option<String>; REDACTION_STEP_COUNT] = [
    redact_pem_private_keys,
    redact_service_tokens,
    redact_authorization_headers,
    redact_bearer_tokens,
    redact_secret_key_value_pairs,
    redact_secret_command_line_flags,
    redact_url_userinfo_passwords,
    redact_mysql_compact_passwords,
];

/// True when a JSON object key names a secret (its whole value is replaced).
///
/// The key is split into lowercase tokens at every non-alphanumeric character,
/// at camelCase boundaries and between letters and digits. The key is secret
/// when a token contains a long secret word such as `password`, when a token
/// is exactly a short secret word such as `pass` or `otp`, or when two adjacent
/// tokens form a pair such as `api` and `key`. Splitting first is what keeps
/// `footprint`, `bypass` and `monkey` from matching.
#[must_use]
pub(crate) fn is_secret_key(key: &str) -> bool {
    SECRET_KEY_TRIGGER_IN_ANY_CASE.is_match(key)
        && SECRET_KEY_TOKENS.is_match(&lowercase_tokens_joined_by_spaces(key))
}

/// Splits a key into lowercase tokens and joins them with single spaces.
///
/// A token ends at any character that is not alphanumeric, before an uppercase
/// letter that follows a lowercase one (`apiKey`), before the last uppercase
/// letter of a run that is followed by a lowercase one (`HTTPToken`), and
/// between a letter and a digit (`pass2`). Tokens never contain spaces, so the
/// joined form lets one regex look at single tokens and at adjacent pairs.
fn lowercase_tokens_joined_by_spaces(key: &str) -> String {
    let mut joined = String::with_capacity(key.len() + 4);
    let mut previous_in_token: Option<char> = None;
    let mut characters = key.chars().peekable();
    while let Some(character) = characters.next() {
        if !character.is_alphanumeric() {
            previous_in_token = None;
            continue;
        }
        let starts_new_token = match previous_in_token {
            None => !joined.is_empty(),
            Some(previous) => {
                let next_is_lowercase = characters.peek().is_some_and(|next| next.is_lowercase());
                let starts_camel_case_word = previous.is_lowercase() && character.is_uppercase();
                let ends_uppercase_run =
                    previous.is_uppercase() && character.is_uppercase() && next_is_lowercase;
                let switches_letters_and_digits =
                    previous.is_alphabetic() != character.is_alphabetic();
                starts_camel_case_word || ends_uppercase_run || switches_letters_and_digits
            }
        };
        if starts_new_token {
            joined.push(' ');
        }
        if character.is_ascii() {
            joined.push(character.to_ascii_lowercase());
        } else {
            joined.extend(character.to_lowercase());
        }
        previous_in_token = Some(character);
    }
    joined
}

/// Replaces secret-looking substrings of free text (argument strings, error messages).
///
/// Text in which nothing looks secret is returned as `Cow::Borrowed` after one
/// scan by [`ANY_REDACTION_STEP_CANDIDATE`]. Otherwise the steps whose candidate
/// pattern matched run in order, and the text is copied only by the steps that
/// change it. A step can change what another step sees (for example by
/// removing the quote that ended a header value, or by giving a step that was
/// not a candidate something to match), so passes go on until one changes
/// nothing, at most [`MAXIMUM_REDACTION_PASSES`] times. A pass that changes
/// nothing saw every step that could apply, because the candidates were
/// computed on the very text it left unchanged.
#[must_use]
pub(crate) fn redact_text(text: &str) -> Cow<'_, str> {
    let mut current = Cow::Borrowed(text);
    for _ in 0..MAXIMUM_REDACTION_PASSES {
        if !ANY_REDACTION_STEP_CANDIDATE.is_match(&current) {
            break;
        }
        let candidate_steps = REDACTION_STEP_CANDIDATES.matches(&current);
        let mut changed_in_this_pass = false;
        for step_index in &candidate_steps {
            if let Some(redacted) = REDACTION_STEPS[step_index](&current) {
                current = Cow::Owned(redacted);
                changed_in_this_pass = true;
            }
        }
        if !changed_in_this_pass {
            break;
        }
    }
    current
}

/// Redacts a JSON value recursively: values under secret keys become "[REDACTED]",
/// every string goes through `redact_text`, depth > 32 becomes "[REDACTED:depth-limit]".
///
/// A value under a secret key that is `null` or the empty string is kept, so
/// that the log still shows that no secret was given. Object keys go through
/// [`redact_text`] too, because a key could itself be a token.
#[must_use]
pub(crate) fn redact_value(value: &Value) -> Value {
    redact_value_at_depth(value, 0)
}

/// Redacts a value that sits `depth` containers below the top-level value.
///
/// The recursion stops at [`MAXIMUM_VALUE_DEPTH`], so its own depth is bounded.
fn redact_value_at_depth(value: &Value, depth: usize) -> Value {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
        Value::String(text) => Value::String(redact_text(text).into_owned()),
        Value::Array(_) | Value::Object(_) if depth > MAXIMUM_VALUE_DEPTH => {
            Value::String(DEPTH_LIMIT_MARKER.to_owned())
        }
        Value::Array(elements) => Value::Array(
            elements
                .iter()
                .map(|element| redact_value_at_depth(element, depth + 1))
                .collect(),
        ),
        Value::Object(entries) => {
            let mut redacted_entries = Map::new();
            for (key, entry_value) in entries {
                let redacted_entry_value = if is_secret_key(key) {
                    redact_value_under_secret_key(entry_value)
                } else {
                    redact_value_at_depth(entry_value, depth + 1)
                };
                redacted_entries.insert(redact_text(key).into_owned(), redacted_entry_value);
            }
            Value::Object(redacted_entries)
        }
    }
}

/// Replaces a value found under a secret key, keeping `null` and `""` visible.
fn redact_value_under_secret_key(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(text) if text.is_empty() => Value::String(String::new()),
        Value::Bool(_)
        | Value::Number(_)
        | Value::String(_)
        | Value::Array(_)
        | Value::Object(_) => Value::String(REDACTED.to_owned()),
    }
}

/// What a redaction step decided about one match of its pattern.
enum MatchDecision {
    /// The whole match is replaced by this text.
    Replace(String),
    /// The match is kept as it is, and the search goes on from this byte offset.
    KeepAndResumeAt(usize),
}

/// Applies a decision to every match of a pattern, from left to right.
///
/// The search after a kept match resumes where the decision says, which lets
/// a step look again inside a match it did not want (for example the value of
/// `note=password=hunter2`). Returns `None` when no match was replaced.
fn replace_matches(
    text: &str,
    pattern: &Regex,
    mut decide: impl FnMut(&str, &Captures<'_>) -> MatchDecision,
) -> Option<String> {
    let mut output: Option<String> = None;
    let mut copied_until = 0;
    let mut search_from = 0;
    while search_from <= text.len() {
        let Some(captures) = pattern.captures_at(text, search_from) else {
            break;
        };
        let Some(whole_match) = captures.get(0) else {
            break;
        };
        let offset_after_first_character = whole_match.start()
            + text[whole_match.start()..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
        match decide(text, &captures) {
            MatchDecision::Replace(replacement) => {
                let redacted = output.get_or_insert_with(|| String::with_capacity(text.len()));
                redacted.push_str(&text[copied_until..whole_match.start()]);
                redacted.push_str(&replacement);
                copied_until = whole_match.end();
                search_from = whole_match.end().max(offset_after_first_character);
            }
            MatchDecision::KeepAndResumeAt(resume_offset) => {
                search_from = if resume_offset > whole_match.start()
                    && text.is_char_boundary(resume_offset)
                {
                    resume_offset
                } else {
                    offset_after_first_character
                };
            }
        }
    }
    output.map(|mut redacted| {
        redacted.push_str(&text[copied_until..]);
        redacted
    })
}

/// Replaces every match of a pattern with [`REDACTED`].
fn replace_every_match(text: &str, pattern: &Regex) -> Option<String> {
    replace_matches(text, pattern, |_, _| {
        MatchDecision::Replace(REDACTED.to_owned())
    })
}

/// True when a captured value is made only of [`REDACTED`] markers, quotes and whitespace.
///
/// Such a value was produced by an earlier step or an earlier redaction, and
/// leaving it alone is what makes redaction idempotent.
fn is_already_redacted(value: &str) -> bool {
    let is_quote_or_whitespace =
        |character: char| character.is_whitespace() || character == '"' || character == '\'';
    let mut rest = value.trim_start_matches(is_quote_or_whitespace);
    let mut found_marker = false;
    while let Some(after_marker) = rest.strip_prefix(REDACTED) {
        found_marker = true;
        rest = after_marker.trim_start_matches(is_quote_or_whitespace);
    }
    found_marker && rest.is_empty()
}

/// Returns [`REDACTED`] inside the same quotes as `value`, if it is quoted.
///
/// Keeping the quotes keeps the redacted text parsed the same way as the
/// original, which is what makes redacting it again change nothing.
fn redacted_keeping_quotes(value: &str) -> String {
    let Some(quote) = value
        .chars()
        .next()
        .filter(|first| *first == '"' || *first == '\'')
    else {
        return REDACTED.to_owned();
    };
    let closing_quote = if value.len() > 1 && value.ends_with(quote) {
        Some(quote)
    } else {
        None
    };
    let mut redacted = String::with_capacity(REDACTED.len() + 2);
    redacted.push(quote);
    redacted.push_str(REDACTED);
    redacted.extend(closing_quote);
    redacted
}

/// True when the character before `offset` continues an ASCII word, so a match there is inside a word.
///
/// Only ASCII counts, so that a flag glued to a non-ASCII letter is still
/// taken for a flag: that is the conservative reading.
fn follows_word_character(text: &str, offset: usize) -> bool {
    text[..offset].chars().next_back().is_some_and(|previous| {
        previous.is_ascii_alphanumeric() || previous == '_' || previous == '.'
    })
}

/// Returns the byte offset where a named group ends, or where the whole match ends.
fn end_of_group(captures: &Captures<'_>, group_name: &str) -> usize {
    captures
        .name(group_name)
        .or_else(|| captures.get(0))
        .map_or(0, |group| group.end())
}

/// Redacts PEM private key blocks, including an unterminated one up to the end of the text.
fn redact_pem_private_keys(text: &str) -> Option<String> {
    replace_every_match(text, &PEM_PRIVATE_KEY)
}

/// Redacts tokens whose format identifies the service that issued them.
fn redact_service_tokens(text: &str) -> Option<String> {
    replace_every_match(text, &SERVICE_TOKEN)
}

/// Redacts the value of `Authorization` and `Proxy-Authorization` headers, keeping the name.
fn redact_authorization_headers(text: &str) -> Option<String> {
    replace_matches(text, &AUTHORIZATION_HEADER, |_, captures| {
        let value = captures.name("value").map_or("", |group| group.as_str());
        if is_already_redacted(value) {
            return MatchDecision::KeepAndResumeAt(end_of_group(captures, "value"));
        }
        let prefix = captures.name("prefix").map_or("", |group| group.as_str());
        MatchDecision::Replace(format!("{prefix}{REDACTED}"))
    })
}

/// Redacts the token after the word `bearer`, keeping the word.
fn redact_bearer_tokens(text: &str) -> Option<String> {
    replace_matches(text, &BEARER_TOKEN, |_, captures| {
        let prefix = captures.name("prefix").map_or("", |group| group.as_str());
        MatchDecision::Replace(format!("{prefix}{REDACTED}"))
    })
}

/// Redacts whole `name=value` pairs whose name is secret according to [`is_secret_key`].
///
/// The pair is found around each trigger word: the name is the run of
/// identifier characters around it, optionally in matching quotes, followed by
/// optional whitespace, a separator (`=`, `:`, `:=` or `==`), optional
/// whitespace (which may span lines, as in `password:` followed by the value
/// on the next line) and a value. The scan is written by hand because it runs on every text that the
/// candidate regex lets through, and a regex for the same shape is much slower.
///
/// A name that starts with `-` is a command line flag such as `--password=x`:
/// the flag and separator stay visible, only the value is replaced, and the
/// value runs up to whitespace. A `:` followed by another `:` is a path
/// separator such as `auth::login`, not a pair. The [`REDACTED`] marker is a
/// secret name as it stands, see [`SECRET_NAME_TRIGGER`].
fn redact_secret_key_value_pairs(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut output: Option<String> = None;
    let mut copied_until = 0;
    let mut search_from = 0;
    while let Some(trigger) = SECRET_NAME_TRIGGER.find_at(text, search_from) {
        let trigger_is_marker = trigger.as_str() == REDACTED;
        let mut name_start = trigger.start();
        let mut name_end = trigger.end();
        if !trigger_is_marker {
            while name_start > copied_until && is_name_byte(bytes[name_start - 1]) {
                name_start -= 1;
            }
            while name_end < bytes.len() && is_name_byte(bytes[name_end]) {
                name_end += 1;
            }
        }
        search_from = name_end;
        let name = &text[name_start..name_end];
        let name_is_flag = !trigger_is_marker && name.starts_with('-');
        let Some(pair) =
            parse_pair_after_name(bytes, name_start, name_end, copied_until, name_is_flag)
        else {
            continue;
        };
        if !trigger_is_marker && !is_secret_key(name) {
            continue;
        }
        let value = &text[pair.value_start..pair.value_end];
        if is_already_redacted(value) {
            search_from = pair.value_end;
            continue;
        }
        let redacted = output.get_or_insert_with(|| String::with_capacity(text.len()));
        redacted.push_str(&text[copied_until..pair.start]);
        if name_is_flag {
            redacted.push_str(&text[pair.start..pair.value_start]);
            redacted.push_str(&redacted_keeping_quotes(value));
        } else {
            redacted.push_str(REDACTED);
        }
        copied_until = pair.value_end;
        search_from = pair.value_end;
    }
    output.map(|mut redacted| {
        redacted.push_str(&text[copied_until..]);
        redacted
    })
}

/// The byte offsets of a `name=value` pair found by [`parse_pair_after_name`].
struct KeyValuePairSpan {
    /// Where the pair starts, including an opening quote around the name.
    start: usize,
    /// Where the value starts, including its opening quote.
    value_start: usize,
    /// Where the value ends, after its closing quote if it has one.
    value_end: usize,
}

/// True for the bytes that make up a name in a `name=value` pair.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-')
}

/// Returns the offset of the first byte at or after `offset` that is not ASCII whitespace.
fn skip_ascii_whitespace(bytes: &[u8], offset: usize) -> usize {
    let mut cursor = offset;
    while cursor < bytes.len() && bytes[cursor].is_ascii_whitespace() {
        cursor += 1;
    }
    cursor
}

/// Parses what follows a name: an optional closing quote, a separator and a value.
///
/// Returns `None` when the name is not followed by a separator and a non-empty
/// value, or when the separator is the first half of a `::` path separator.
/// The pair never starts before `earliest_start`, which is where the text that
/// has not been copied yet begins. An unquoted value runs up to whitespace
/// only when `value_runs_to_whitespace` is set, as it is for command line flags.
fn parse_pair_after_name(
    bytes: &[u8],
    name_start: usize,
    name_end: usize,
    earliest_start: usize,
    value_runs_to_whitespace: bool,
) -> Option<KeyValuePairSpan> {
    let mut start = name_start;
    let mut cursor = name_end;
    if let Some(&closing_quote @ (b'"' | b'\'')) = bytes.get(cursor) {
        let opening_quote_offset = name_start
            .checked_sub(1)
            .filter(|offset| *offset >= earliest_start);
        if let Some(offset) = opening_quote_offset.filter(|offset| bytes[*offset] == closing_quote)
        {
            start = offset;
        }
        cursor += 1;
    }
    cursor = skip_ascii_whitespace(bytes, cursor);
    let rest = &bytes[cursor..];
    let chosen = [":=", "==", "=", ":"]
        .into_iter()
        .filter(|separator| rest.starts_with(separator.as_bytes()))
        .find_map(|separator| {
            let value_start = skip_ascii_whitespace(bytes, cursor + separator.len());
            let value_end = end_of_value(bytes, value_start, value_runs_to_whitespace);
            (value_end > value_start).then_some((separator, value_start, value_end))
        });
    let (separator, value_start, value_end) = chosen?;
    if separator == ":" && bytes[value_start] == b':' {
        return None;
    }
    Some(KeyValuePairSpan {
        start,
        value_start,
        value_end,
    })
}

/// Returns where a value that starts at `value_start` ends.
///
/// A quoted value runs to its closing quote, or to the end of the line when the
/// quote is never closed; a backslash escapes the next byte inside double
/// quotes. An unquoted value runs up to whitespace, `&`, `;`, `,` or a quote,
/// or only up to whitespace when `runs_to_whitespace` is set. Every offset
/// returned is a character boundary, because the scan only stops at ASCII
/// bytes or at the end of the text.
fn end_of_value(bytes: &[u8], value_start: usize, runs_to_whitespace: bool) -> usize {
    let Some(&first_byte) = bytes.get(value_start) else {
        return value_start;
    };
    let mut cursor = value_start;
    match first_byte {
        b'"' | b'\'' => {
            cursor += 1;
            while let Some(&byte) = bytes.get(cursor) {
                match byte {
                    b'\\' if first_byte == b'"' => {
                        if matches!(bytes.get(cursor + 1), Some(b'\r' | b'\n') | None) {
                            cursor += 1;
                            break;
                        }
                        cursor += 2;
                    }
                    b'\r' | b'\n' => break,
                    _ if byte == first_byte => {
                        cursor += 1;
                        break;
                    }
                    _ => cursor += 1,
                }
            }
        }
        _ => {
            while let Some(&byte) = bytes.get(cursor) {
                let ends_value = byte.is_ascii_whitespace()
                    || (!runs_to_whitespace && matches!(byte, b'&' | b';' | b',' | b'"' | b'\''));
                if ends_value {
                    break;
                }
                cursor += 1;
            }
        }
    }
    cursor.min(bytes.len())
}

/// Redacts the value of command line flags whose name is secret, keeping the flag.
fn redact_secret_command_line_flags(text: &str) -> Option<String> {
    replace_matches(text, &COMMAND_LINE_FLAG, |text, captures| {
        let Some(whole_match) = captures.get(0) else {
            return MatchDecision::KeepAndResumeAt(0);
        };
        let name_end = end_of_group(captures, "name");
        let name = captures.name("name").map_or("", |group| group.as_str());
        if follows_word_character(text, whole_match.start()) || !is_secret_key(name) {
            return MatchDecision::KeepAndResumeAt(name_end);
        }
        let Some(value) = captures.name("value") else {
            return MatchDecision::KeepAndResumeAt(name_end);
        };
        if is_already_redacted(value.as_str()) {
            return MatchDecision::KeepAndResumeAt(value.end());
        }
        let flag_and_separator = &text[whole_match.start()..value.start()];
        let redacted_value = redacted_keeping_quotes(value.as_str());
        MatchDecision::Replace(format!("{flag_and_separator}{redacted_value}"))
    })
}

/// Redacts the password of `scheme://user:password@host`, keeping the scheme, user and host.
fn redact_url_userinfo_passwords(text: &str) -> Option<String> {
    replace_matches(text, &URL_USERINFO, |_, captures| {
        let password = captures.name("password").map_or("", |group| group.as_str());
        if is_already_redacted(password) {
            return MatchDecision::KeepAndResumeAt(end_of_group(captures, "password"));
        }
        let scheme = captures.name("scheme").map_or("", |group| group.as_str());
        let user = captures.name("user").map_or("", |group| group.as_str());
        MatchDecision::Replace(format!("{scheme}{user}:{REDACTED}@"))
    })
}

/// Redacts `-pPASSWORD` when a MySQL-family client is named in the same text.
///
/// Without such a client name the flag is left alone, so `ssh -p22 host` keeps its port.
fn redact_mysql_compact_passwords(text: &str) -> Option<String> {
    if !MYSQL_CLIENT.is_match(text) {
        return None;
    }
    replace_matches(text, &MYSQL_COMPACT_PASSWORD, |text, captures| {
        let Some(whole_match) = captures.get(0) else {
            return MatchDecision::KeepAndResumeAt(0);
        };
        let starts_an_argument = text[..whole_match.start()]
            .chars()
            .next_back()
            .is_none_or(|previous| previous.is_whitespace() || previous == '"' || previous == '\'');
        if !starts_an_argument {
            return MatchDecision::KeepAndResumeAt(whole_match.start() + "-p".len());
        }
        let value = captures.name("value").map_or("", |group| group.as_str());
        if is_already_redacted(value) {
            return MatchDecision::KeepAndResumeAt(whole_match.end());
        }
        let redacted_value = redacted_keeping_quotes(value);
        MatchDecision::Replace(format!("-p{redacted_value}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Texts with secrets and what they must become, one or more for every pattern.
    const REDACTION_EXAMPLES: &[(&str, &str)] = &[
        // Pattern 1: PEM private keys, terminated and not.
        (
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----\nafter",
            "key:\n[REDACTED]\nafter",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "[REDACTED]",
        ),
        (
            "x -----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXk\\n-----END OPENSSH PRIVATE KEY----- y",
            "x [REDACTED] y",
        ),
        // Pattern 2: AWS access key ids.
        ("aws AKIAIOSFODNN7EXAMPLE ok", "aws [REDACTED] ok"),
        ("ASIAABCDEFGHIJKLMNOP", "[REDACTED]"),
        // Pattern 3: GitHub tokens.
        (
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789 used",
            "[REDACTED] used",
        ),
        (
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "[REDACTED]",
        ),
        // Pattern 4: GitLab tokens.
        ("glpat-abcdefghij0123456789-_xy", "[REDACTED]"),
        // Pattern 5: npm tokens.
        ("npm_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED]"),
        // Pattern 6: PyPI tokens.
        ("pypi-AgEIcHlwaS5vcmcCJDEyMzQ1Njc4LTEyMzQ", "[REDACTED]"),
        // Pattern 7: Slack tokens.
        ("xoxb-1234567890-abcdefghij", "[REDACTED]"),
        // Pattern 8: OpenAI, Anthropic and generic sk- keys.
        ("sk-proj-abcdefghijklmnop_qrstuv", "[REDACTED]"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz-AA", "[REDACTED]"),
        (
            "key sk-abcdefghijklmnopqrstuvwxyz here",
            "key [REDACTED] here",
        ),
        // Pattern 9: HuggingFace tokens.
        ("hf_abcdefghijklmnopqrstuvwxyz", "[REDACTED]"),
        // Pattern 10: DigitalOcean tokens.
        (
            "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef",
            "[REDACTED]",
        ),
        // Pattern 11: Stripe keys.
        ("sk_live_abcdefghij0123", "[REDACTED]"),
        ("rk_test_0123456789", "[REDACTED]"),
        // Pattern 12: Google keys and OAuth tokens.
        ("AIzaSyA-abcdefghijklmnopqrstuvwxyz0123456", "[REDACTED]"),
        ("ya29.a0AfH6SMBabcdefghijklmnop", "[REDACTED]"),
        // Pattern 13: JWTs.
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
            "jwt [REDACTED] end",
        ),
        // Pattern 14: Authorization headers.
        (
            "Authorization: Basic dXNlcjpwYXNz\nnext line",
            "Authorization: [REDACTED]\nnext line",
        ),
        (
            r#"{"headers": "Proxy-Authorization: Digest abc"}"#,
            r#"{"headers": "Proxy-Authorization: [REDACTED]"}"#,
        ),
        ("authorization=opaque-value", "authorization=[REDACTED]"),
        // Pattern 15: bearer tokens.
        ("sent bearer abc.def-ghi", "sent bearer [REDACTED]"),
        ("Bearer abc123== rest", "Bearer [REDACTED] rest"),
        // Pattern 16: secret key=value pairs.
        ("password=hunter2", "[REDACTED]"),
        ("user=bob&password=hunter2&x=1", "user=bob&[REDACTED]&x=1"),
        ("token: abc def", "[REDACTED] def"),
        (r#"api_key = "a b c" tail"#, "[REDACTED] tail"),
        ("DB_PASSWORD=hunter2 next", "[REDACTED] next"),
        (
            r#"{"password": "hunter2", "user": "bob"}"#,
            r#"{[REDACTED], "user": "bob"}"#,
        ),
        ("note=password=hunter2", "note=[REDACTED]"),
        (
            "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "[REDACTED]",
        ),
        ("password=\"unterminated value", "[REDACTED]"),
        ("password:\n  hunter2", "[REDACTED]"),
        (
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789password=hunter2",
            "[REDACTED]",
        ),
        ("Bearer password=hunter2", "Bearer [REDACTED]"),
        // Pattern 17: command line flags.
        ("app --password=hunter2 -v", "app --password=[REDACTED] -v"),
        ("app --token abc123 -v", "app --token [REDACTED] -v"),
        (
            "app -x --api-key 'a b' run",
            "app -x --api-key '[REDACTED]' run",
        ),
        ("app --db-password=hunter2", "app --db-password=[REDACTED]"),
        ("app --password=a,b;c -v", "app --password=[REDACTED] -v"),
        ("app --password = hunter2", "app --password = [REDACTED]"),
        ("é--password=hunter2", "é--password=[REDACTED]"),
        ("app --secret=\"a b\" -v", "app --secret=\"[REDACTED]\" -v"),
        // Pattern 18: URL and DSN userinfo.
        (
            "postgres://app:hunter2@db:5432/x",
            "postgres://app:[REDACTED]@db:5432/x",
        ),
        (
            "redis://:pa:ss@w0rd@cache:6379",
            "redis://:[REDACTED]@cache:6379",
        ),
        // Pattern 19: MySQL compact passwords.
        ("mysql -uroot -phunter2 db", "mysql -uroot -p[REDACTED] db"),
        (
            "mysqldump -u root -p'a b' db",
            "mysqldump -u root -p'[REDACTED]' db",
        ),
    ];

    /// Texts that look close to a secret but are not one, and must stay as they are.
    const NEAR_MISS_EXAMPLES: &[&str] = &[
        // Pattern 1: public keys and certificates are not secret.
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        // Pattern 2: too short, or inside a longer word.
        "AKIAIOSFODNN7EXAMPL",
        "XAKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNN7EXAMPLE1",
        // Pattern 3: too short, or an unknown prefix.
        "ghp_abcdefghijklmnopqrs",
        "ghx_abcdefghijklmnopqrstuvwxyz",
        // Pattern 4: too short.
        "glpat-abcdefghij",
        // Pattern 5: too short.
        "npm_abcdefghijklmnopqrstuvwxyz012345678",
        // Pattern 6: a different prefix.
        "pypi-AgEIcHlwaS5vcmX0123456789abcdef",
        // Pattern 7: an unknown letter, or too short.
        "xoxz-1234567890-abcdefghij",
        "xoxb-12345",
        // Pattern 8: too short, or inside a word.
        "sk-abcdefghijklmnopqrs",
        "desk-abcdefghijklmnopqrstuvwxyz",
        // Pattern 9: too short.
        "hf_abcdefghijklmnopqrs",
        // Pattern 10: not hexadecimal.
        "dop_v1_zzzz456789abcdef0123456789abcdef0123456789abcdef",
        // Pattern 11: a publishable key, or an unknown mode.
        "pk_live_abcdefghij0123",
        "sk_demo_abcdefghij0123",
        // Pattern 12: too short.
        "AIzaSyA-abcdefghij",
        "ya29.short",
        // Pattern 13: only two segments.
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        // Pattern 14: an authorization header without a value, and a different word.
        "Authorization:",
        "authority: local",
        // Pattern 15: the word bearer alone.
        "the bearer",
        // Pattern 16: names that only end in a secret word, and plain pairs.
        "bypass=1",
        "compass: north",
        "footprint=12",
        "user=bob&page=2",
        "crate::auth::login failed",
        "token",
        // Pattern 17: flags that are not secret, and a secret flag without a value.
        "app --verbose --output out.txt",
        "app --password",
        "app --token -v",
        // Pattern 18: a URL without a password.
        "https://user@example.com/path?email=a@b.c",
        "http://host:8080/path",
        // Pattern 19: -p without a MySQL client.
        "ssh -p22 host",
        "mysql --port=3306 -h db",
        // Plain text.
        "The quick brown fox jumps over the lazy dog.",
        "",
    ];

    #[test]
    fn every_pattern_redacts_its_example() {
        for (input, expected) in REDACTION_EXAMPLES {
            assert_eq!(redact_text(input), *expected, "input: {input:?}");
        }
    }

    #[test]
    fn near_misses_are_left_alone_and_borrowed() {
        for input in NEAR_MISS_EXAMPLES {
            let output = redact_text(input);
            assert_eq!(output, *input, "input: {input:?}");
            assert!(
                matches!(output, Cow::Borrowed(_)),
                "input {input:?} must be returned borrowed"
            );
        }
    }

    #[test]
    fn redaction_is_idempotent_on_every_example() {
        let all_inputs = REDACTION_EXAMPLES
            .iter()
            .map(|(input, _)| *input)
            .chain(NEAR_MISS_EXAMPLES.iter().copied());
        for input in all_inputs {
            let once = redact_text(input).into_owned();
            let twice = redact_text(&once).into_owned();
            assert_eq!(twice, once, "input: {input:?}");
        }
    }

    #[test]
    fn already_redacted_text_is_returned_borrowed() {
        for (_, expected) in REDACTION_EXAMPLES {
            assert!(
                matches!(redact_text(expected), Cow::Borrowed(_)),
                "redacted text {expected:?} must be returned borrowed"
            );
        }
    }

    #[test]
    fn secret_keys_are_recognised() {
        let secret_keys = [
            "password",
            "Password",
            "DB_PASSWORD",
            "dbpassword",
            "apiKey",
            "APIKey",
            "api_key",
            "x-api-key",
            "client_secret",
            "clientSecret",
            "AWS_SECRET_ACCESS_KEY",
            "authToken",
            "x-auth-token",
            "HTTPToken",
            "tokens",
            "credentials",
            "privateKey",
            "private_key",
            "privkey",
            "otp",
            "OTP",
            "pass",
            "pwd",
            "pin",
            "auth",
            "Cookie",
            "Set-Cookie",
            "Authorization",
            "passphrase",
            "session_key",
            "signingKey",
            "tokenizer",
            "api\u{212A}ey",
        ];
        for key in secret_keys {
            assert!(is_secret_key(key), "{key:?} must be a secret key");
        }
    }

    #[test]
    fn ordinary_keys_are_not_secret() {
        let ordinary_keys = [
            "footprint",
            "bypass",
            "compass",
            "passenger",
            "keyboard",
            "monkey",
            "key",
            "host",
            "hostname",
            "author",
            "authority",
            "authentication",
            "spinner",
            "signal",
            "name",
            "path",
            "",
            "__",
        ];
        for key in ordinary_keys {
            assert!(!is_secret_key(key), "{key:?} must not be a secret key");
        }
    }

    #[test]
    fn keys_split_at_separators_camel_case_and_digits() {
        assert_eq!(lowercase_tokens_joined_by_spaces("apiKey"), "api key");
        assert_eq!(
            lowercase_tokens_joined_by_spaces("DB_PASSWORD"),
            "db password"
        );
        assert_eq!(lowercase_tokens_joined_by_spaces("x-api-key"), "x api key");
        assert_eq!(lowercase_tokens_joined_by_spaces("HTTPToken"), "http token");
        assert_eq!(lowercase_tokens_joined_by_spaces("pass2"), "pass 2");
        assert_eq!(lowercase_tokens_joined_by_spaces("__a__B__"), "a b");
        assert_eq!(lowercase_tokens_joined_by_spaces(""), "");
    }

    #[test]
    fn trigger_words_cover_every_secret_key_word() {
        let trigger_words: Vec<&str> = SECRET_KEY_TRIGGER_WORDS.split('|').collect();
        let contains_a_trigger =
            |word: &str| trigger_words.iter().any(|trigger| word.contains(trigger));
        for word in SECRET_KEY_CONTAINED_WORDS
            .iter()
            .chain(SECRET_KEY_WHOLE_TOKENS)
        {
            assert!(
                contains_a_trigger(word),
                "no trigger word occurs in {word:?}"
            );
        }
        for (first, second) in SECRET_KEY_ADJACENT_PAIRS {
            assert!(
                contains_a_trigger(first) || contains_a_trigger(second),
                "no trigger word occurs in the pair ({first:?}, {second:?})"
            );
        }
    }

    #[test]
    fn key_value_pairs_with_any_secret_key_name_are_redacted() {
        assert_eq!(redact_text("AWS_SECRET_ACCESS_KEY=abc/def+ghi"), REDACTED);
        assert_eq!(redact_text("x-api-key: abc"), REDACTED);
        assert_eq!(redact_text("apiKey=abc"), REDACTED);
        assert_eq!(redact_text("spring.datasource.password=abc"), REDACTED);
    }

    #[test]
    fn service_token_inside_a_secret_pair_stays_marked_once() {
        let input = "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        assert_eq!(redact_text(input), "token=[REDACTED]");
    }

    #[test]
    fn non_ascii_text_is_handled() {
        assert_eq!(redact_text("mot de passe: été"), "mot de passe: été");
        assert_eq!(
            redact_text("pässword=x password=ü"),
            "pässword=x [REDACTED]"
        );
        assert_eq!(redact_text("ключ --token ключ"), "ключ --token [REDACTED]");
    }

    #[test]
    fn redact_value_replaces_values_under_secret_keys_at_every_depth() {
        let input = json!({
            "user": "bob",
            "password": "hunter2",
            "note": "see password=hunter2",
            "nested": {
                "apiKey": {"anything": [1, 2]},
                "list": [
                    {"client_secret": 42, "port": 5432},
                    {"deeper": {"AWS_SECRET_ACCESS_KEY": "abc", "region": "eu"}}
                ]
            },
            "otp": null,
            "pwd": "",
            "footprint": 12,
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789": true
        });
        let expected = json!({
            "user": "bob",
            "password": REDACTED,
            "note": "see [REDACTED]",
            "nested": {
                "apiKey": REDACTED,
                "list": [
                    {"client_secret": REDACTED, "port": 5432},
                    {"deeper": {"AWS_SECRET_ACCESS_KEY": REDACTED, "region": "eu"}}
                ]
            },
            "otp": null,
            "pwd": "",
            "footprint": 12,
            "[REDACTED]": true
        });
        assert_eq!(redact_value(&input), expected);
    }

    #[test]
    fn redact_value_keeps_scalars() {
        assert_eq!(redact_value(&json!(null)), json!(null));
        assert_eq!(redact_value(&json!(true)), json!(true));
        assert_eq!(redact_value(&json!(1.5)), json!(1.5));
        assert_eq!(redact_value(&json!("plain")), json!("plain"));
        assert_eq!(
            redact_value(&json!("Bearer abc")),
            json!("Bearer [REDACTED]")
        );
    }

    #[test]
    fn redact_value_is_idempotent() {
        let input = json!({"a": {"token": "x", "b": ["password=y", {"otp": 1}]}});
        let once = redact_value(&input);
        assert_eq!(redact_value(&once), once);
    }

    /// Builds `depth` arrays nested in each other around a string, without recursion.
    fn nested_arrays(depth: usize) -> Value {
        let mut value = Value::String("bottom".to_owned());
        for _ in 0..depth {
            value = Value::Array(vec![value]);
        }
        value
    }

    /// Follows the first element of nested arrays `levels` times.
    fn descend_first_elements(value: &Value, levels: usize) -> Option<&Value> {
        let mut current = value;
        for _ in 0..levels {
            current = current.as_array()?.first()?;
        }
        Some(current)
    }

    #[test]
    fn redact_value_keeps_containers_up_to_depth_thirty_two() {
        let input = nested_arrays(33);
        assert_eq!(redact_value(&input), input);
    }

    #[test]
    fn redact_value_replaces_containers_deeper_than_thirty_two() {
        let input = nested_arrays(2_000);
        let output = redact_value(&input);
        let at_depth_thirty_two = descend_first_elements(&output, 32);
        assert!(at_depth_thirty_two.is_some_and(Value::is_array));
        assert_eq!(
            descend_first_elements(&output, 33),
            Some(&Value::String(DEPTH_LIMIT_MARKER.to_owned()))
        );
    }

    #[test]
    fn redact_value_limits_depth_through_objects() {
        let mut input = json!({"leaf": "password=x"});
        for _ in 0..40 {
            input = json!({ "child": input });
        }
        let mut current = &redact_value(&input);
        for _ in 0..33 {
            match current.get("child") {
                Some(child) => current = child,
                None => break,
            }
        }
        assert_eq!(current, &json!(DEPTH_LIMIT_MARKER));
    }

    /// Fragments that are combined at random to exercise the interplay of the steps.
    const TEXT_FRAGMENTS: &[&str] = &[
        " ",
        "\t",
        "\n",
        "=",
        ":",
        "::",
        ":=",
        "\"",
        "'",
        "\\\"",
        "\\",
        "&",
        ",",
        ";",
        "-",
        "--",
        "@",
        "/",
        "://",
        "password",
        "Token",
        "api_key",
        "apiKey",
        "bypass",
        "pin",
        "Bearer ",
        "Authorization: ",
        "Proxy-Authorization",
        "mysql",
        "-p",
        "--password",
        "--token",
        "hunter2",
        "db",
        "postgres",
        "user",
        "[REDACTED]",
        "[REDACTED",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmN",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "x",
        "é",
    ];

    /// Asserts that every step that changes `text` is flagged by its candidate pattern.
    fn assert_candidates_cover_steps(text: &str) {
        let candidate_steps = REDACTION_STEP_CANDIDATES.matches(text);
        for (step_index, redaction_step) in REDACTION_STEPS.iter().enumerate() {
            if redaction_step(text).is_some() {
                assert!(
                    candidate_steps.matched(step_index),
                    "step {step_index} changes {text:?} but its candidate pattern does not match"
                );
            }
        }
    }

    #[test]
    fn candidate_patterns_cover_their_steps_on_every_example() {
        let all_inputs = REDACTION_EXAMPLES
            .iter()
            .flat_map(|(input, expected)| [*input, *expected])
            .chain(NEAR_MISS_EXAMPLES.iter().copied());
        for input in all_inputs {
            assert_candidates_cover_steps(input);
        }
    }

    proptest! {
        #[test]
        fn redact_text_never_panics(text in any::<String>()) {
            drop(redact_text(&text));
        }

        #[test]
        fn redaction_is_idempotent_and_covered_on_secret_like_fragments(
            pieces in proptest::collection::vec(proptest::sample::select(TEXT_FRAGMENTS), 0..32),
        ) {
            let text = pieces.concat();
            assert_candidates_cover_steps(&text);
            let once = redact_text(&text).into_owned();
            let twice = redact_text(&once).into_owned();
            prop_assert_eq!(twice, once, "input: {:?}", text);
        }

        #[test]
        fn embedded_secrets_never_survive(
            secret in prop_oneof![
                "(AKIA|ASIA)[0-9A-Z]{16}",
                "gh[pousr]_[A-Za-z0-9_]{20,40}",
                "github_pat_[A-Za-z0-9_]{20,40}",
                "hf_[A-Za-z0-9]{20,40}",
                "eyJ[A-Za-z0-9_-]{10,30}\\.[A-Za-z0-9_-]{10,30}\\.[A-Za-z0-9_-]{6,30}",
            ],
            prefix in "[\\x00-\\x7f]{0,40}",
            suffix in "[\\x00-\\x7f]{0,40}",
        ) {
            let text = format!("{prefix} {secret} {suffix}");
            let output = redact_text(&text);
            prop_assert!(!output.contains(secret.as_str()), "output: {:?}", output);
        }
    }
}
