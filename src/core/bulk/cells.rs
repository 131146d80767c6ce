//! Keeping cells safe to open in a spreadsheet, and reading them back.
//!
//! A spreadsheet treats a cell that starts with `=`, `+`, `-`, `@`, tab or
//! carriage return as a formula ("CSV injection"). Cells we write that
//! start so are prefixed with an apostrophe, which spreadsheets show as
//! text. To round-trip, a cell that starts with an apostrophe followed by
//! one of those characters or by another apostrophe loses its first
//! apostrophe when read, and a cell of that shape is written with one more.
//! So `write` then `read` gives back every cell exactly. Every written cell
//! is also quoted, so a spreadsheet that splits lines on `;` (its locale's
//! list separator) still sees one cell, never a formula after a `;`.

/// Characters that make a spreadsheet evaluate a cell (with their
/// full-width forms, which some spreadsheets turn into the ASCII ones).
fn triggers_formula(c: char) -> bool {
    matches!(
        c,
        '=' | '+' | '-' | '@' | '\t' | '\r' | '\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}'
    )
}

fn escaped_shape(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_some_and(|c| triggers_formula(c) || c == '\'')
}

/// The cell as it must be written to be inert in a spreadsheet.
pub(crate) fn escape_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let needs = match cell.chars().next() {
        Some('\'') => escaped_shape(&cell[1..]),
        Some(c) => triggers_formula(c),
        None => false,
    };
    if needs {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A cell of an uploaded file, made ready to be written into a file the
/// administrator will open in a spreadsheet and upload again: its value as
/// the reader reads it (an escaping apostrophe removed), made inert again
/// the way the library's failed-rows CSV writes every cell. Writing a cell
/// twice gives the same cell, so a file that goes round many times stays
/// as it is. For hosts that write their own CSV beside the library's, for
/// example keeping columns of the upload the library ignores.
///
/// ```
/// assert_eq!(org_accounts::inert_csv_cell("=SUM(A1)"), "'=SUM(A1)");
/// assert_eq!(org_accounts::inert_csv_cell("'=SUM(A1)"), "'=SUM(A1)");
/// assert_eq!(org_accounts::inert_csv_cell("Finance"), "Finance");
/// ```
pub fn inert_csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    escape_cell(unescape_cell(cell))
}

/// The cell's value as read back (the inverse of [`escape_cell`]).
pub(crate) fn unescape_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if escaped_shape(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_made_inert_and_read_back() {
        for cell in [
            "=1+1", "+x@y.com", "-x", "@SUM(A1)", "'=1", "''", "'", "plain", "", "a=b",
        ] {
            let written = escape_cell(cell);
            assert!(!written.starts_with(triggers_formula), "{written}");
            assert_eq!(unescape_cell(&written), cell);
        }
        assert_eq!(escape_cell("=1+1"), "'=1+1");
        assert_eq!(escape_cell("o'neil@x.com"), "o'neil@x.com");
    }
}
