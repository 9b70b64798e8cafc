//! How read commands print: an aligned table for people, JSON or YAML for programs.

use crate::error::CliError;
use clap::{Args, ValueEnum};
use serde::Serialize;

/// The output format of a read command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum OutputFormat {
    /// An aligned table.
    #[default]
    Table,
    /// Pretty JSON of the wire messages.
    Json,
    /// YAML of the wire messages.
    Yaml,
}

/// The `-o/--output` option of every read command.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct OutputArgs {
    /// How to print the result.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) format: OutputFormat,
}

/// Prints `value` as JSON or YAML (for [`OutputFormat::Table`], as YAML too: callers print
/// their own tables).
pub(crate) fn print_structured<T: Serialize>(
    format: OutputFormat,
    value: &T,
) -> Result<(), CliError> {
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(value)
            .map(|mut text| {
                text.push('\n');
                text
            })
            .map_err(|e| e.to_string()),
        OutputFormat::Yaml | OutputFormat::Table => {
            serde_yaml_ng::to_string(value).map_err(|e| e.to_string())
        }
    }
    .map_err(|message| CliError::Output { message })?;
    print!("{text}");
    Ok(())
}

/// A table of text cells with a header row, printed with aligned columns.
#[derive(Debug)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Appends a row; missing cells print as empty.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, columns separated by at least three spaces, no trailing spaces.
    pub(crate) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, width) in widths.iter().enumerate() {
                let cell = row.get(c).map(String::as_str).unwrap_or("");
                line.push_str(cell);
                if c + 1 < columns {
                    let pad = width - cell.chars().count() + 3;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table to stdout.
    pub(crate) fn print(&self) {
        print!("{}", self.render());
    }
}

/// `k=v,k2=v2`, or `-` for none.
pub(crate) fn key_values<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let text = pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    or_dash(text)
}

/// The text, or `-` when it is empty.
pub(crate) fn or_dash(text: String) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut table = Table::new(&["HOST", "LABELS"]);
        table.row(vec!["host-1".into(), "zone=eu-1".into()]);
        table.row(vec!["h2".into(), "-".into()]);
        assert_eq!(
            table.render(),
            "HOST     LABELS\nhost-1   zone=eu-1\nh2       -\n"
        );
    }

    #[test]
    fn formats_key_values() {
        let labels: std::collections::BTreeMap<String, String> =
            [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        assert_eq!(key_values(&labels), "a=1,b=2");
        assert_eq!(key_values(&std::collections::BTreeMap::new()), "-");
    }
}
