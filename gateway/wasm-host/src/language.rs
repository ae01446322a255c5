//! The language a component was written in, and the limits that fit it.
//!
//! The JavaScript and Python SDKs' builds append a custom section,
//! `scimgate-language`, naming the language. Their components carry an
//! engine or an interpreter: about 9 MiB (JavaScript) and 12 MiB (Python)
//! of linear memory as soon as they are instantiated, garbage collection
//! that slows calls tenfold near the memory cap, and a first call that
//! touches that memory page by page. A step that does not set its limits
//! gets ones that fit its language; Rust and any other compiled component
//! keep the tight defaults.

use std::time::Duration;

use crate::Limits;

/// What a component says it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// No `scimgate-language` section: Rust, or another compiled language.
    Compiled,
    JavaScript,
    Python,
}

/// The custom section the SDK builds append.
const SECTION: &[u8] = b"scimgate-language";

impl Language {
    /// Read the component's top-level custom sections (nested modules are
    /// skipped whole); a malformed binary is `Compiled` here and refused by
    /// the compiler.
    pub fn of(wasm: &[u8]) -> Language {
        let mut rest = match wasm.get(8..) {
            Some(rest) if wasm.starts_with(b"\0asm") => rest,
            _ => return Language::Compiled,
        };
        while let Some((&id, after)) = rest.split_first() {
            let Some((size, after)) = leb(after) else { break };
            let Some(content) = after.get(..size) else { break };
            rest = &after[size..];
            if id != 0 {
                continue;
            }
            let Some((name_len, content)) = leb(content) else { continue };
            if content.get(..name_len) == Some(SECTION) {
                return match &content[name_len..] {
                    b"javascript" => Language::JavaScript,
                    b"python" => Language::Python,
                    _ => Language::Compiled,
                };
            }
        }
        Language::Compiled
    }

    /// [`Language::of`] a component file; an unreadable file is `Compiled`
    /// here, and its loader reports why it cannot be read.
    pub fn of_file(path: &std::path::Path) -> Language {
        std::fs::read(path).map_or(Language::Compiled, |wasm| Language::of(&wasm))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Compiled => "compiled",
            Language::JavaScript => "javascript",
            Language::Python => "python",
        }
    }

    /// The default limits of a step in this language. Measured on the
    /// example plugins (BENCHMARKS.md): JavaScript needs 9.1 MiB and Python
    /// 12.4 MiB to instantiate, and both run calls ten times slower below
    /// 32 MiB; a first call in a loaded debug build took up to ~100 ms.
    pub fn default_limits(self) -> Limits {
        match self {
            Language::Compiled => Limits::default(),
            Language::JavaScript | Language::Python => {
                Limits { memory_bytes: 64 << 20, deadline: Duration::from_millis(250), ..Limits::default() }
            }
        }
    }
}

/// An unsigned LEB128 `u32` and what follows it.
fn leb(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(sections: &[(u8, &[u8])]) -> Vec<u8> {
        let mut out = b"\0asm\x0d\0\x01\0".to_vec();
        for (id, body) in sections {
            out.push(*id);
            out.push(body.len() as u8);
            out.extend_from_slice(body);
        }
        out
    }

    fn custom(name: &str, payload: &str) -> Vec<u8> {
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(payload.as_bytes());
        body
    }

    #[test]
    fn the_section_names_the_language_after_other_sections() {
        let python = custom("scimgate-language", "python");
        let wasm = component(&[(1, b"\x01\x02\x03"), (0, &custom("producers", "x")), (0, &python)]);
        assert_eq!(Language::of(&wasm), Language::Python);
        assert_eq!(Language::of(&component(&[(0, &custom("scimgate-language", "javascript"))])), Language::JavaScript);
    }

    #[test]
    fn anything_else_is_compiled() {
        assert_eq!(Language::of(&component(&[(1, b"\x00")])), Language::Compiled);
        assert_eq!(Language::of(&component(&[(0, &custom("scimgate-language", "cobol"))])), Language::Compiled);
        assert_eq!(Language::of(b"\0asm"), Language::Compiled);
        assert_eq!(Language::of(&component(&[(0, b"\x7f")])), Language::Compiled, "a name longer than its section");
        assert_eq!(Language::of(b"not wasm at all"), Language::Compiled);
    }
}
