//! Integration tests of the report writers on a small fixed run.

mod access_log;
mod diff;
mod fixture;
mod html;
mod json;
mod junit;
mod middlebox;
mod pod;
mod run_dir;
mod schema;
mod snapshot;
mod snapshot_files;
mod write;
