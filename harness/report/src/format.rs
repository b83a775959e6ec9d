//! The output formats and their names on the command line and on disk.

use std::fmt;
use std::str::FromStr;

use crate::error::ReportError;

/// One way of writing a [`meshsim_core::RunResult`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// Aligned plain-text columns for a terminal ([`fn@crate::table`]), written as `.txt`.
    Table,
    /// The `RunResult` itself, pretty JSON ([`fn@crate::json`]), written as `.json`.
    Json,
    /// GitHub-flavoured Markdown ([`fn@crate::markdown`]), written as `.md`.
    Markdown,
    /// One self-contained page with SVG charts ([`fn@crate::html`]), written as `.html`.
    Html,
    /// JUnit XML, one test case per expectation ([`fn@crate::junit`]), written as `.xml`.
    Junit,
}

impl Format {
    /// Every format, in the order of the enum.
    pub const ALL: [Format; 5] = [
        Format::Table,
        Format::Json,
        Format::Markdown,
        Format::Html,
        Format::Junit,
    ];

    /// Every format, in the order of the enum: what a run directory holds
    /// and what `meshsim report` re-renders. Code that needs "every format"
    /// iterates this, so a new variant flows in everywhere.
    pub fn all() -> &'static [Format] {
        &Self::ALL
    }

    /// The fixed file name of this format in a run directory
    /// ([`crate::run_dir`]): `result.json` for the JSON (the run itself),
    /// `junit.xml` for an XML format, `report.<extension>` for the others
    /// (`report.txt`, `report.md`).
    pub fn file_name(self) -> String {
        let stem = match self.extension() {
            "json" => "result",
            "xml" => "junit",
            _ => "report",
        };
        format!("{stem}.{}", self.extension())
    }

    /// The file extension [`crate::write_all`] uses: `txt`, `json`, `md`,
    /// `html` or `xml`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Json => "json",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Junit => "xml",
        }
    }

    /// The name [`FromStr`] reads and [`fmt::Display`] writes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Junit => "junit",
        }
    }
}

impl FromStr for Format {
    type Err = ReportError;

    /// Reads `table`, `json`, `markdown` or `md`, `html`, `junit` or `xml`,
    /// ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "markdown" | "md" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "junit" | "xml" => Ok(Format::Junit),
            _ => Err(ReportError::UnknownFormat {
                name: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_parses_back_from_its_display_name() {
        for format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>().unwrap(), format);
        }
    }

    #[test]
    fn md_and_upper_case_names_are_accepted() {
        assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
        assert_eq!("JSON".parse::<Format>().unwrap(), Format::Json);
        assert_eq!("xml".parse::<Format>().unwrap(), Format::Junit);
        assert_eq!("HTML".parse::<Format>().unwrap(), Format::Html);
    }

    #[test]
    fn unknown_format_name_is_an_error_naming_it() {
        let err = "pdf".parse::<Format>().unwrap_err();
        assert!(matches!(&err, ReportError::UnknownFormat { name } if name == "pdf"));
        assert_eq!(
            err.to_string(),
            "unknown report format \"pdf\" (expected table, json, markdown (md), html or junit (xml))"
        );
    }

    #[test]
    fn extensions_are_txt_json_md_html_xml() {
        let exts: Vec<_> = Format::ALL.iter().map(|f| f.extension()).collect();
        assert_eq!(exts, ["txt", "json", "md", "html", "xml"]);
    }

    #[test]
    fn run_directory_file_names_are_result_json_junit_xml_and_report_dot_extension() {
        let names: Vec<String> = Format::all().iter().map(|f| f.file_name()).collect();
        assert_eq!(
            names,
            [
                "report.txt",
                "result.json",
                "report.md",
                "report.html",
                "junit.xml"
            ]
        );
    }
}
