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

/// Whether `c` shows nothing or steers the terminal: control (Cc: C0,
/// DEL and C1, ESC and CSI among them), format (Cf: bidirectional
/// controls, zero-width characters, BOM, tags, ...), line and paragraph
/// separators, invisible fillers and variation selectors. The same set
/// the library refuses in names.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(u32::from(c),
            // Format characters (Cf), Unicode 16.0, plus the reserved
            // U+2065.
            0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
            // Line and paragraph separators.
            | 0x2028..=0x2029
            // Invisible fillers, variation selectors, the tag block.
            | 0x034F
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFFA0
            | 0xE0000..=0xE0FFF)
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
