//! Rows and columns, laid out either as aligned plain text or as a GitHub table.
//!
//! Widths are counted in characters, not bytes, so a summary with `×` or an
//! accented host name still lines up. Cell text is cleaned first: control
//! characters (a newline in a scenario's summary) would break either layout.

/// How a column's cells sit in their width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A header and rows of cells, all rows as wide as the header.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Grid {
    /// An empty grid with these column titles.
    pub(crate) fn new(columns: &[(&str, Align)]) -> Self {
        let columns = columns.iter().map(|(t, a)| (one_line(t), *a)).collect();
        Grid {
            columns,
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are empty and extra cells are dropped.
    pub(crate) fn push(&mut self, row: Vec<String>) {
        let mut row: Vec<String> = row.iter().map(|c| one_line(c)).collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
    }

    /// Plain text: header, a rule of dashes, rows; two spaces between columns,
    /// every line prefixed by `indent` and without trailing spaces.
    pub(crate) fn text(&self, indent: &str) -> String {
        let widths = self.widths();
        let header: Vec<String> = self.columns.iter().map(|(t, _)| t.clone()).collect();
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let mut out = String::new();
        for row in [&header, &rule].into_iter().chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&self.columns)
                .zip(&widths)
                .map(|((cell, (_, align)), w)| pad(cell, *w, *align))
                .collect();
            out.push_str(indent);
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured Markdown table; cells are escaped.
    pub(crate) fn markdown(&self) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut out = line(self.columns.iter().map(|(t, _)| escape(t)).collect());
        out.push_str(&line(
            self.columns
                .iter()
                .map(|(_, a)| match a {
                    Align::Left => ":---".to_string(),
                    Align::Right => "---:".to_string(),
                })
                .collect(),
        ));
        for row in &self.rows {
            out.push_str(&line(row.iter().map(|c| escape(c)).collect()));
        }
        out
    }

    /// The column titles and alignments, for writers that lay cells out
    /// themselves (HTML).
    pub(crate) fn columns(&self) -> impl Iterator<Item = (&str, Align)> {
        self.columns.iter().map(|(t, a)| (t.as_str(), *a))
    }

    /// The rows, each as wide as the header, cells on one line.
    pub(crate) fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    fn widths(&self) -> Vec<usize> {
        (0..self.columns.len())
            .map(|i| {
                let cells = self.rows.iter().map(|r| &r[i]);
                std::iter::once(&self.columns[i].0)
                    .chain(cells)
                    .map(|c| c.chars().count())
                    .max()
            })
            .map(|w| w.unwrap_or(0))
            .collect()
    }
}

fn pad(cell: &str, width: usize, align: Align) -> String {
    let fill = " ".repeat(width.saturating_sub(cell.chars().count()));
    match align {
        Align::Left => format!("{cell}{fill}"),
        Align::Right => format!("{fill}{cell}"),
    }
}

/// The text on one line: every control character (newline, tab, escape) becomes a space.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Text safe inside a Markdown table cell or paragraph: on one line, with the
/// characters that would end a cell or start markup (`|`, `\`, `` ` ``, `*`,
/// `[`, and `<` before a tag) escaped.
pub(crate) fn escape(text: &str) -> String {
    let line: Vec<char> = one_line(text).chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in line.iter().enumerate() {
        // `<` starts HTML or an autolink only before a letter, `/`, `!` or `?`:
        // `error_rate < 1%` stays as written.
        let tag = c == '<'
            && line
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || "/!?".contains(*n));
        if tag || matches!(c, '|' | '\\' | '`' | '*' | '[') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Grid {
        let mut g = Grid::new(&[("name", Align::Left), ("n", Align::Right)]);
        g.push(vec!["a×b".into(), "7".into()]);
        g.push(vec!["longer|x".into(), "12345".into()]);
        g
    }

    #[test]
    fn text_aligns_by_characters_and_trims_line_ends() {
        let expected = "  name          n
  --------  -----
  a×b           7
  longer|x  12345
";
        assert_eq!(sample().text("  "), expected);
    }

    #[test]
    fn markdown_escapes_pipes_and_marks_alignment() {
        let expected = "\
| name | n |
| :--- | ---: |
| a×b | 7 |
| longer\\|x | 12345 |
";
        assert_eq!(sample().markdown(), expected);
    }

    #[test]
    fn newlines_in_cells_become_spaces() {
        let mut g = Grid::new(&[("a", Align::Left)]);
        g.push(vec!["x\ny".into()]);
        assert!(g.text("").ends_with("x y\n"));
        assert_eq!(escape("a\tb<c>"), "a b\\<c>");
        assert_eq!(escape("rate < 1% * 2"), "rate < 1% \\* 2");
    }

    #[test]
    fn short_rows_are_padded_with_empty_cells() {
        let mut g = Grid::new(&[("a", Align::Left), ("b", Align::Left)]);
        g.push(vec!["x".into()]);
        assert_eq!(g.markdown().lines().last(), Some("| x |  |"));
    }
}
