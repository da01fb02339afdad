//! hale: one small binary per Docker host that exports host, process and container metrics for
//! Prometheus under the names node_exporter, process-exporter and cAdvisor use, answers health
//! checks, and heals what alerts point at. This crate is the library behind the `hale` binary:
//! [`app`] builds every part from the validated flags and config; `main.rs` parses them, runs
//! what [`app`] built until shutdown, and alone turns errors into exit codes.

// What STYLE asks of this code, enforced by the compiler rather than by review: no
// unwrap/expect/panic and no indexing that can panic on data from the host, Docker or the
// network; no poisoning locks and no panicking float-to-Duration conversion (clippy.toml names
// them). Crate attributes, so they bind the library and the binary, not the tests.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_types,
    clippy::disallowed_methods
)]
pub mod app;
pub mod cli;
pub mod collector;
pub mod config;
pub mod de;
pub mod docker;
pub mod exposition;
pub mod heal;
pub mod health;
pub mod landing;
pub mod logging;
pub mod metric;
pub mod paths;
pub mod proc_files;
pub mod process_match;
pub mod scrape;
pub mod secret;
pub mod server;
pub mod task;
pub mod textformat;
pub mod web;
