//! Parsing a command line the way the shell will run it: every simple command, wherever it is.
//!
//! `parse` turns a command string into the flat list of `Invocation`s bash would execute:
//! the parts of lists and pipelines, subshells, groups, loop and `if` bodies, function bodies,
//! command and process substitutions (in arguments, assignments and redirections), with each
//! word reduced to its static text after quote removal, or marked dynamic when the shell would
//! only know it at run time.
//! Invariants: pure (no I/O, no clock); never panics; anything it cannot read with certainty is
//! reported (`ParseFailure`, `dynamic`, `hidden_substitution`), never guessed, so the classifier
//! can round up.

use brush_parser::ast::{
    self, Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, IoFileRedirectKind,
    IoFileRedirectTarget, IoRedirect, Pipeline,
};
use brush_parser::word::{self, WordPiece, WordPieceWithSource};
use brush_parser::{Parser, ParserOptions};

/// How deep substitutions and `sh -c` strings may nest before the input is refused.
pub const MAX_DEPTH: usize = 8;

/// The longest command line that is parsed at all.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// One word after quote removal.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Arg {
    /// The static text; dynamic parts are left out.
    pub text: String,
    /// Some part is only known at run time (a variable, a substitution, arithmetic).
    pub dynamic: bool,
    /// An unquoted glob character or brace expansion: the shell may turn it into other words.
    pub expands: bool,
}

/// What a redirection does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RedirectKind {
    Read,
    Write,
    Append,
    ReadWrite,
    Duplicate,
}

/// One redirection of a simple command.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub target: Arg,
}

/// One simple command the shell would run.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Invocation {
    /// Command name first; empty for a bare assignment or redirection.
    pub argv: Vec<Arg>,
    /// `NAME=value` prefixes (or bare assignments).
    pub assignments: Vec<(String, Arg)>,
    pub redirects: Vec<Redirect>,
    /// Its standard input comes from a here-document or here-string.
    pub stdin_from_here_document: bool,
    /// It reads the previous pipeline stage on standard input.
    pub piped_input: bool,
    /// Nesting level: 0 at top level, +1 inside each substitution.
    pub depth: usize,
}

/// A parsed command line.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ParsedCommand {
    pub invocations: Vec<Invocation>,
    /// Names of functions the line defines (a definition can shadow a command).
    pub functions: Vec<String>,
    /// Functions whose body pipes into itself: the fork-bomb shape.
    pub self_piping_functions: Vec<String>,
    /// A parameter expansion hides a substitution (`${X:-$(…)}`), which is not walked.
    pub hidden_substitution: bool,
}

/// Why a command line cannot be classified.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ParseFailure {
    Syntax(String),
    TooDeep,
    TooLong,
}

/// Parses `text` at nesting depth 0.
pub fn parse(text: &str) -> Result<ParsedCommand, ParseFailure> {
    let mut parsed = ParsedCommand::default();
    parse_into(text, 0, &mut parsed)?;
    Ok(parsed)
}

/// Parses `text` as found at `depth`, adding what it runs to `parsed`.
pub fn parse_into(
    text: &str,
    depth: usize,
    parsed: &mut ParsedCommand,
) -> Result<(), ParseFailure> {
    if depth > MAX_DEPTH {
        return Err(ParseFailure::TooDeep);
    }
    if text.len() > MAX_COMMAND_BYTES {
        return Err(ParseFailure::TooLong);
    }
    if let Some(reason) = would_overflow_the_parser(text) {
        return Err(ParseFailure::Syntax(reason.to_owned()));
    }
    let options = ParserOptions::default();
    let mut parser = Parser::new(std::io::Cursor::new(text), &options);
    let program = parser
        .parse_program()
        .map_err(|error| ParseFailure::Syntax(error.to_string()))?;
    let mut walker = Walker {
        options,
        depth,
        parsed,
    };
    for list in &program.complete_commands {
        walker.compound_list(list)?;
    }
    Ok(())
}

struct Walker<'parsed> {
    options: ParserOptions,
    depth: usize,
    parsed: &'parsed mut ParsedCommand,
}

impl Walker<'_> {
    fn compound_list(&mut self, list: &CompoundList) -> Result<(), ParseFailure> {
        for item in &list.0 {
            let and_or = &item.0;
            self.pipeline(&and_or.first)?;
            for next in &and_or.additional {
                match next {
                    ast::AndOr::And(pipeline) | ast::AndOr::Or(pipeline) => {
                        self.pipeline(pipeline)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, pipeline: &Pipeline) -> Result<(), ParseFailure> {
        for (stage, command) in pipeline.seq.iter().enumerate() {
            self.command(command, stage > 0)?;
        }
        Ok(())
    }

    fn command(&mut self, command: &Command, piped_input: bool) -> Result<(), ParseFailure> {
        match command {
            Command::Simple(simple) => self.simple(simple, piped_input),
            Command::Compound(compound, redirects) => {
                self.compound(compound)?;
                if let Some(redirects) = redirects {
                    // Redirections of a compound command apply to everything inside it; they
                    // are recorded on an empty invocation so writes are still seen.
                    let mut carrier = self.invocation(piped_input);
                    for redirect in &redirects.0 {
                        self.redirect(redirect, &mut carrier)?;
                    }
                    self.parsed.invocations.push(carrier);
                }
                Ok(())
            }
            Command::Function(definition) => {
                let name = definition.fname.value.clone();
                let before = self.parsed.invocations.len();
                self.compound(&definition.body.0)?;
                let piped_self = self.parsed.invocations[before..].iter().any(|invocation| {
                    invocation.piped_input
                        && invocation
                            .argv
                            .first()
                            .is_some_and(|first| first.text == name)
                });
                if piped_self {
                    self.parsed.self_piping_functions.push(name.clone());
                }
                self.parsed.functions.push(name);
                Ok(())
            }
            Command::ExtendedTest(_, redirects) => {
                let mut carrier = self.invocation(piped_input);
                carrier.argv.push(Arg {
                    text: "[[".into(),
                    ..Arg::default()
                });
                if let Some(redirects) = redirects {
                    for redirect in &redirects.0 {
                        self.redirect(redirect, &mut carrier)?;
                    }
                }
                self.parsed.invocations.push(carrier);
                Ok(())
            }
        }
    }

    fn compound(&mut self, compound: &CompoundCommand) -> Result<(), ParseFailure> {
        match compound {
            CompoundCommand::Arithmetic(_) | CompoundCommand::ArithmeticForClause(_) => {
                // Arithmetic can hold command substitutions; it is not walked, so it rounds up.
                self.parsed.hidden_substitution = true;
                Ok(())
            }
            CompoundCommand::BraceGroup(group) => self.compound_list(&group.list),
            CompoundCommand::Subshell(subshell) => self.compound_list(&subshell.list),
            CompoundCommand::ForClause(clause) => {
                if let Some(values) = &clause.values {
                    for value in values {
                        self.word(value)?;
                    }
                }
                self.compound_list(&clause.body.list)
            }
            CompoundCommand::CaseClause(clause) => {
                self.word(&clause.value)?;
                for case in &clause.cases {
                    if let Some(list) = &case.cmd {
                        self.compound_list(list)?;
                    }
                }
                Ok(())
            }
            CompoundCommand::IfClause(clause) => {
                self.compound_list(&clause.condition)?;
                self.compound_list(&clause.then)?;
                for branch in clause.elses.iter().flatten() {
                    if let Some(condition) = &branch.condition {
                        self.compound_list(condition)?;
                    }
                    self.compound_list(&branch.body)?;
                }
                Ok(())
            }
            CompoundCommand::WhileClause(clause) | CompoundCommand::UntilClause(clause) => {
                self.compound_list(&clause.0)?;
                self.compound_list(&clause.1.list)
            }
            CompoundCommand::Coprocess(coprocess) => self.command(&coprocess.body, false),
        }
    }

    fn invocation(&self, piped_input: bool) -> Invocation {
        Invocation {
            piped_input,
            depth: self.depth,
            ..Invocation::default()
        }
    }

    fn simple(
        &mut self,
        simple: &ast::SimpleCommand,
        piped_input: bool,
    ) -> Result<(), ParseFailure> {
        let mut invocation = self.invocation(piped_input);
        let items = simple
            .prefix
            .iter()
            .flat_map(|prefix| prefix.0.iter())
            .chain(simple.suffix.iter().flat_map(|suffix| suffix.0.iter()));
        let mut words: Vec<Option<&ast::Word>> = Vec::new();
        let mut name_seen = false;
        // The prefix comes before the command name, the suffix after it.
        let prefix_len = simple.prefix.as_ref().map_or(0, |prefix| prefix.0.len());
        for (index, item) in items.enumerate() {
            if index == prefix_len && !name_seen {
                if let Some(name) = &simple.word_or_name {
                    words.push(Some(name));
                }
                name_seen = true;
            }
            match item {
                CommandPrefixOrSuffixItem::IoRedirect(redirect) => {
                    self.redirect(redirect, &mut invocation)?;
                }
                CommandPrefixOrSuffixItem::Word(word) => words.push(Some(word)),
                // After the command name, `a=b` is an ordinary argument (`dd of=/dev/x`).
                CommandPrefixOrSuffixItem::AssignmentWord(_, raw) if index >= prefix_len => {
                    words.push(Some(raw));
                }
                CommandPrefixOrSuffixItem::AssignmentWord(assignment, raw) => {
                    let name = match &assignment.name {
                        ast::AssignmentName::VariableName(name)
                        | ast::AssignmentName::ArrayElementName(name, _) => name.clone(),
                    };
                    let value = match &assignment.value {
                        ast::AssignmentValue::Scalar(value) => self.word(value)?,
                        ast::AssignmentValue::Array(_) => {
                            let mut whole = self.word(raw)?;
                            whole.dynamic = true;
                            whole
                        }
                    };
                    invocation.assignments.push((name, value));
                }
                CommandPrefixOrSuffixItem::ProcessSubstitution(_, subshell) => {
                    // The argument is a path only known at run time (`/dev/fd/N`).
                    self.nested_list(&subshell.list)?;
                    words.push(None);
                }
            }
        }
        if !name_seen && let Some(name) = &simple.word_or_name {
            words.push(Some(name));
        }
        for word in words {
            let arg = match word {
                Some(word) => self.word(word)?,
                None => Arg {
                    dynamic: true,
                    ..Arg::default()
                },
            };
            invocation.argv.push(arg);
        }
        self.parsed.invocations.push(invocation);
        Ok(())
    }

    fn nested_list(&mut self, list: &CompoundList) -> Result<(), ParseFailure> {
        if self.depth + 1 > MAX_DEPTH {
            return Err(ParseFailure::TooDeep);
        }
        self.depth += 1;
        let result = self.compound_list(list);
        self.depth -= 1;
        result
    }

    fn redirect(
        &mut self,
        redirect: &IoRedirect,
        invocation: &mut Invocation,
    ) -> Result<(), ParseFailure> {
        match redirect {
            IoRedirect::File(_, kind, target) => {
                let kind = match kind {
                    IoFileRedirectKind::Read => RedirectKind::Read,
                    IoFileRedirectKind::Write | IoFileRedirectKind::Clobber => RedirectKind::Write,
                    IoFileRedirectKind::Append => RedirectKind::Append,
                    IoFileRedirectKind::ReadAndWrite => RedirectKind::ReadWrite,
                    IoFileRedirectKind::DuplicateInput | IoFileRedirectKind::DuplicateOutput => {
                        RedirectKind::Duplicate
                    }
                };
                let target = match target {
                    IoFileRedirectTarget::Filename(word)
                    | IoFileRedirectTarget::Duplicate(word) => self.word(word)?,
                    IoFileRedirectTarget::Fd(fd) => Arg {
                        text: fd.to_string(),
                        ..Arg::default()
                    },
                    IoFileRedirectTarget::ProcessSubstitution(_, subshell) => {
                        self.nested_list(&subshell.list)?;
                        Arg {
                            dynamic: true,
                            ..Arg::default()
                        }
                    }
                };
                invocation.redirects.push(Redirect { kind, target });
            }
            IoRedirect::HereDocument(_, here) => {
                invocation.stdin_from_here_document = true;
                if here.requires_expansion {
                    self.word(&here.doc)?;
                }
            }
            IoRedirect::HereString(_, word) => {
                invocation.stdin_from_here_document = true;
                self.word(word)?;
            }
            IoRedirect::OutputAndError(word, append) => {
                let target = self.word(word)?;
                invocation.redirects.push(Redirect {
                    kind: if *append {
                        RedirectKind::Append
                    } else {
                        RedirectKind::Write
                    },
                    target,
                });
            }
        }
        Ok(())
    }

    /// Reduces a word to its static text, walking any substitution inside it.
    fn word(&mut self, word: &ast::Word) -> Result<Arg, ParseFailure> {
        let pieces = word::parse(&word.value, &self.options)
            .map_err(|error| ParseFailure::Syntax(error.to_string()))?;
        let mut arg = Arg::default();
        self.pieces(&pieces, &word.value, false, &mut arg)?;
        Ok(arg)
    }

    fn pieces(
        &mut self,
        pieces: &[WordPieceWithSource],
        source: &str,
        quoted: bool,
        arg: &mut Arg,
    ) -> Result<(), ParseFailure> {
        for piece in pieces {
            match &piece.piece {
                WordPiece::Text(text) => {
                    if !quoted
                        && text
                            .chars()
                            .any(|character| matches!(character, '*' | '?' | '[' | '{'))
                    {
                        arg.expands = true;
                    }
                    arg.text.push_str(text);
                }
                WordPiece::SingleQuotedText(text) => arg.text.push_str(text),
                WordPiece::AnsiCQuotedText(text) => arg.text.push_str(&decode_ansi_c(text)),
                WordPiece::EscapeSequence(text) => {
                    arg.text.push_str(text.strip_prefix('\\').unwrap_or(text));
                }
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    self.pieces(inner, source, true, arg)?;
                }
                WordPiece::TildeExpansion(_) => {
                    arg.text.push('~');
                    arg.dynamic = true;
                }
                WordPiece::ParameterExpansion(_) => {
                    arg.dynamic = true;
                    let raw = source
                        .get(piece.start_index..piece.end_index)
                        .unwrap_or(source);
                    if raw.contains("$(")
                        || raw.contains('`')
                        || raw.contains("<(")
                        || raw.contains(">(")
                    {
                        self.parsed.hidden_substitution = true;
                    }
                }
                WordPiece::CommandSubstitution(inner)
                | WordPiece::BackquotedCommandSubstitution(inner) => {
                    arg.dynamic = true;
                    if self.depth + 1 > MAX_DEPTH {
                        return Err(ParseFailure::TooDeep);
                    }
                    parse_into(inner, self.depth + 1, self.parsed)?;
                }
                WordPiece::ArithmeticExpression(expression) => {
                    arg.dynamic = true;
                    if expression.value.contains("$(") || expression.value.contains('`') {
                        self.parsed.hidden_substitution = true;
                    }
                }
            }
        }
        Ok(())
    }
}

/// brush-parser 0.4 unwraps two integer parses: a file-descriptor number before `<`/`>` (i32)
/// and the number of a `~+N`/`~-N` tilde expression (usize). Input that would overflow them is
/// refused here, before the parser can panic (found by the `classify_command` fuzz target).
fn would_overflow_the_parser(text: &str) -> Option<&'static str> {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index].is_ascii_digit() {
            let start = index;
            while index < bytes.len() && bytes[index].is_ascii_digit() {
                index += 1;
            }
            let digits = index - start;
            let after = bytes.get(index).copied();
            if digits >= 10 && matches!(after, Some(b'<' | b'>')) {
                return Some("a file descriptor number too large for the shell");
            }
            let tilde_before = start >= 1 && bytes[start - 1] == b'~'
                || start >= 2
                    && matches!(bytes[start - 1], b'+' | b'-')
                    && bytes[start - 2] == b'~';
            if digits >= 18 && tilde_before {
                return Some("a directory-stack number too large for the shell");
            }
        } else {
            index += 1;
        }
    }
    None
}

/// Decodes the escapes of `$'…'` (ANSI-C quoting) as bash does for the common forms.
pub fn decode_ansi_c(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        let Some(escape) = chars.next() else {
            out.push('\\');
            break;
        };
        let number = |radix: u32,
                      max_digits: usize,
                      chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut value = 0u32;
            let mut digits = 0;
            while digits < max_digits {
                match chars.peek().and_then(|next| next.to_digit(radix)) {
                    Some(digit) => {
                        value = value * radix + digit;
                        digits += 1;
                        chars.next();
                    }
                    None => break,
                }
            }
            (digits > 0).then(|| char::from_u32(value).unwrap_or('\u{fffd}'))
        };
        match escape {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'e' | 'E' => out.push('\u{1b}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            'x' => out.push(number(16, 2, &mut chars).unwrap_or('x')),
            'u' => out.push(number(16, 4, &mut chars).unwrap_or('u')),
            'U' => out.push(number(16, 8, &mut chars).unwrap_or('U')),
            '0'..='7' => {
                let mut value = escape.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|next| next.to_digit(8)) {
                        Some(digit) => {
                            value = value * 8 + digit;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(text: &str) -> Vec<Vec<String>> {
        parse(text)
            .unwrap()
            .invocations
            .into_iter()
            .map(|invocation| invocation.argv.into_iter().map(|arg| arg.text).collect())
            .collect()
    }

    #[test]
    fn lists_pipelines_and_groups_are_all_walked() {
        assert_eq!(
            commands("uptime; df -h && free -m || (ls /tmp | wc -l) & { id; }"),
            vec![
                vec!["uptime"],
                vec!["df", "-h"],
                vec!["free", "-m"],
                vec!["ls", "/tmp"],
                vec!["wc", "-l"],
                vec!["id"],
            ]
        );
    }

    #[test]
    fn substitutions_are_walked_one_level_deeper() {
        let parsed = parse("echo $(rm -rf /tmp/x) `id` <(cat /etc/hosts)").unwrap();
        let names: Vec<(&str, usize)> = parsed
            .invocations
            .iter()
            .map(|invocation| (invocation.argv[0].text.as_str(), invocation.depth))
            .collect();
        assert!(names.contains(&("rm", 1)), "{names:?}");
        assert!(names.contains(&("id", 1)));
        assert!(names.contains(&("cat", 1)));
        assert!(names.contains(&("echo", 0)));
    }

    #[test]
    fn quotes_and_escapes_are_removed_and_dynamic_words_marked() {
        let parsed =
            parse(r#"\rm -rf "/tmp/a b"; r''m x; "r"m y; $'\x72\x6d' z; $CMD -rf /; /bin/r? q"#)
                .unwrap();
        let argv: Vec<&Arg> = parsed
            .invocations
            .iter()
            .map(|invocation| &invocation.argv[0])
            .collect();
        for index in 0..4 {
            assert_eq!(argv[index].text, "rm", "{argv:?}");
            assert!(!argv[index].dynamic);
        }
        assert_eq!(parsed.invocations[0].argv[2].text, "/tmp/a b");
        assert!(argv[4].dynamic);
        assert!(argv[5].expands);
    }

    #[test]
    fn comments_and_quoted_operators_are_not_commands() {
        assert_eq!(
            commands("echo \"a; rm -rf /\""),
            vec![vec!["echo", "a; rm -rf /"]]
        );
        assert_eq!(commands("ls # ; rm -rf /"), vec![vec!["ls"]]);
    }

    #[test]
    fn redirections_assignments_and_functions_are_recorded() {
        let parsed =
            parse("PATH=/tmp ls > /etc/motd 2>&1; f() { rm -rf /tmp/x; }; cat <<EOF\nhi\nEOF\n")
                .unwrap();
        let first = &parsed.invocations[0];
        assert_eq!(first.assignments[0].0, "PATH");
        assert_eq!(first.redirects[0].kind, RedirectKind::Write);
        assert_eq!(first.redirects[0].target.text, "/etc/motd");
        assert_eq!(parsed.functions, vec!["f".to_owned()]);
        assert!(
            parsed
                .invocations
                .iter()
                .any(|invocation| invocation.argv.first().is_some_and(|arg| arg.text == "rm"))
        );
        assert!(parsed.invocations.last().unwrap().stdin_from_here_document);
    }

    #[test]
    fn malformed_and_too_deep_input_is_refused() {
        for text in [
            "echo 'unterminated",
            "echo $(",
            "if true; then",
            "case x in",
        ] {
            assert!(
                matches!(parse(text), Err(ParseFailure::Syntax(_))),
                "{text}"
            );
        }
        let deep = format!("{}id{}", "$(echo ".repeat(12), ")".repeat(12));
        assert_eq!(parse(&deep), Err(ParseFailure::TooDeep));
        assert_eq!(
            parse(&"x".repeat(MAX_COMMAND_BYTES + 1)),
            Err(ParseFailure::TooLong)
        );
    }

    #[test]
    fn inputs_that_would_overflow_the_parser_are_refused_not_panicked_on() {
        for text in [
            "17144444444471>",
            "echo 99999999999>&1",
            "cd ~+999999999999999999999",
            "ls ~-123456789012345678901",
        ] {
            assert!(
                matches!(parse(text), Err(ParseFailure::Syntax(_))),
                "{text}"
            );
        }
        assert!(parse("echo 12>/dev/null").is_ok());
    }

    #[test]
    fn ansi_c_quoting_decodes_the_usual_escapes() {
        assert_eq!(decode_ansi_c(r"\x2f\t\n\101\u00e9\\"), "/\t\nA\u{e9}\\");
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,200}") {
            drop(parse(&text));
        }
    }
}
