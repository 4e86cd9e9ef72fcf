//! Tidy: the code-shape rules of STYLE.md that a compiler cannot check (rust-analyzer style).
#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::{Path, PathBuf};

fn rust_files(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn source_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    rust_files(&root.join("src"))
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            (relative, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    for (path, text) in source_files() {
        assert!(
            text.starts_with("//!"),
            "{path} must start with a `//!` doc comment"
        );
    }
}

#[test]
fn crates_are_confined_to_their_modules() {
    for (path, text) in source_files() {
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if code.contains("rmcp::") || code.contains("schemars") {
            assert!(
                path.starts_with("src/transport/"),
                "{path} uses rmcp or schemars outside src/transport"
            );
        }
        if code.contains("rusqlite") {
            assert!(
                path.starts_with("src/store/"),
                "{path} uses rusqlite outside src/store"
            );
        }
        if code.contains("Command::new") {
            assert!(
                path.starts_with("src/adapters/"),
                "{path} spawns a process outside src/adapters"
            );
        }
        if code.contains("SystemTime::now") {
            assert_eq!(
                path, "src/clock.rs",
                "{path} reads the wall clock outside src/clock.rs"
            );
        }
    }
}

#[test]
fn no_println_or_print_in_the_library() {
    for (path, text) in source_files() {
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            assert!(
                !(trimmed.starts_with("println!") || trimmed.starts_with("print!")),
                "{path}:{}: stdout is JSON-RPC; write to a locked handle on purpose",
                number + 1
            );
        }
    }
}

#[test]
fn ignored_tests_name_an_issue() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = rust_files(&root.join("src"));
    files.extend(rust_files(&root.join("tests")));
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text
            .lines()
            .filter(|line| line.trim_start().starts_with("#[ignore"))
        {
            assert!(
                line.contains('#') && line.contains("issue"),
                "{}: #[ignore] must name an issue: {line}",
                path.display()
            );
        }
    }
}
