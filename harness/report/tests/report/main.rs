//! Integration tests of the report writers on a small fixed run.

mod access_log;
mod diff;
mod fixture;
mod json;
mod middlebox;
mod pod;
mod run_dir;
mod schema;
mod snapshot;
mod write;
