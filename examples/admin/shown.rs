//! Text from outside, made safe for a terminal.
//!
//! Names, addresses, upload cells, SMTP replies and refusals that quote
//! input were chosen by an organization's administrator, an invitee or a
//! mail server, and a database written before the one-name rule can hold
//! names such as `Admin\u{202E}`. Printed raw, an `ESC[2J` clears the
//! operator's screen and a right-to-left override reorders what they
//! read. [`shown`] escapes every character that is not plain visible text
//! (controls, ESC and CSI included; format characters, bidirectional
//! controls among them; line and paragraph separators; invisible fillers)
//! as `\u{1b}`, `\u{202e}`, ...; it is used wherever outside data goes
//! into the text output. [`terminal_text`] is the last guard, run on the
//! whole text written to stdout and stderr: it escapes the same
//! characters but keeps the program's own line breaks and tabs. JSON
//! output is escaped by serde and left alone.

use std::borrow::Cow;

/// `text` with every hidden or terminal-controlling character escaped,
/// line breaks and tabs included: for one value (a name, an address, a
/// cell, a reply).
pub(crate) fn shown(text: &str) -> Cow<'_, str> {
    escaped(text, hidden)
}

/// `text` with every hidden or terminal-controlling character escaped but
/// line feeds and tabs, which lay the program's own output out.
pub(crate) fn terminal_text(text: &str) -> Cow<'_, str> {
    escaped(text, |c| hidden(c) && !matches!(c, '\n' | '\t'))
}

fn escaped(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `c` shows nothing or steers the terminal: the library's rule
/// for names ([`org_accounts::is_hidden_character`]).
fn hidden(c: char) -> bool {
    org_accounts::is_hidden_character(c)
}

/// A JSON document with every hidden or terminal-controlling character
/// that serde leaves raw (DEL, C1 controls, format characters, ... inside
/// strings: serde escapes only the C0 controls) written as a JSON escape
/// (`\u202e`), which reads back as the same text. Line feeds outside
/// strings (the one ending the document) stay.
pub(crate) fn json_text(text: &str) -> Cow<'_, str> {
    let escape = |c: char| hidden(c) && c != '\n';
    if !text.chars().any(escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        if escape(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
