//! Renders a saved run (the JSON report) in another format, to a file:
//!
//! ```text
//! cargo run -p meshsim-report --example render -- <run.json> <format> <out-file>
//! ```
//!
//! `format` is any name `Format` reads (`html`, `junit`, `md`, ...). Used to
//! make `reports/examples/` from a `meshsim run` (see its README).

use std::process::ExitCode;

use meshsim_core::RunResult;
use meshsim_report::{Format, render};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, format, out] = args.as_slice() else {
        eprintln!("usage: render <run.json> <format> <out-file>");
        return ExitCode::from(2);
    };
    match convert(input, format, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("render: {e}");
            ExitCode::FAILURE
        }
    }
}

fn convert(input: &str, format: &str, out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let format: Format = format.parse()?;
    let result: RunResult = serde_json::from_str(&std::fs::read_to_string(input)?)?;
    std::fs::write(out, render(&result, format))?;
    Ok(())
}
