//! `meshsim ctl`: fires timeline actions into a world that `meshsim up`
//! keeps running, and reads its figures, through its control endpoint
//! (loopback only). Exit 0: done; 1: refused by the world (a bad action:
//! the message names the key); 2: cannot reach the endpoint.

use std::io::Write;

use anyhow::{Context, Result};
use meshsim_engine::up::client;

use crate::Verdict;

/// `meshsim ctl` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct CtlArgs {
    /// The control endpoint as `meshsim up` prints it, e.g. 127.0.0.1:40123
    /// (default: the MESHSIM_CTL environment variable).
    #[arg(long, value_name = "ADDR")]
    control: Option<String>,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CtlCommand {
    /// DNS records: `dns set NAME IP[,IP...] [--ttl D]`.
    Dns {
        #[command(subcommand)]
        command: DnsCommand,
    },
    /// External hosts: `host stop NAME [--how reset]`, `host start NAME`.
    Host {
        #[command(subcommand)]
        command: HostCommand,
    },
    /// Any timeline action in the scenario's YAML syntax, without `at`,
    /// e.g. 'service.scale: { name: reviews, replicas: 0 }'.
    Apply {
        /// The action.
        yaml: String,
    },
    /// What the world measured so far (JSON).
    Stats,
    /// Every address of the world (JSON).
    Endpoints,
    /// Stops `meshsim up` (as Ctrl-C).
    Stop,
}

#[derive(Debug, clap::Subcommand)]
enum DnsCommand {
    /// Replaces a name's addresses (`dns.set`).
    Set {
        /// A name of the scenario's zones.
        name: String,
        /// The new addresses, comma-separated.
        #[arg(value_delimiter = ',', required = true)]
        ips: Vec<String>,
        /// A new TTL, e.g. 5s (default: the record's own).
        #[arg(long)]
        ttl: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum HostCommand {
    /// Stops an external host (`host.stop`).
    Stop {
        /// The host's name.
        name: String,
        /// close (FIN), reset (RST) or blackhole (silent drop).
        #[arg(long, default_value = "close")]
        how: String,
    },
    /// Starts it again (`host.start`).
    Start {
        /// The host's name.
        name: String,
    },
}

/// A YAML flow scalar for any text (a JSON string is one).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// The `(method, path, body)` a command sends.
fn request(command: &CtlCommand) -> (&'static str, &'static str, String) {
    let apply = |body: String| ("POST", "/apply", body);
    match command {
        CtlCommand::Dns {
            command: DnsCommand::Set { name, ips, ttl },
        } => {
            let a: Vec<String> = ips.iter().map(|ip| quoted(ip.trim())).collect();
            let ttl = ttl
                .as_deref()
                .map_or(String::new(), |t| format!(", ttl: {}", quoted(t)));
            apply(format!(
                "dns.set: {{ {}: {{ a: [{}]{ttl} }} }}",
                quoted(name),
                a.join(", ")
            ))
        }
        CtlCommand::Host {
            command: HostCommand::Stop { name, how },
        } => apply(format!(
            "host.stop: {{ name: {}, how: {} }}",
            quoted(name),
            quoted(how)
        )),
        CtlCommand::Host {
            command: HostCommand::Start { name },
        } => apply(format!("host.start: {{ name: {} }}", quoted(name))),
        CtlCommand::Apply { yaml } => apply(yaml.clone()),
        CtlCommand::Stats => ("GET", "/stats", String::new()),
        CtlCommand::Endpoints => ("GET", "/endpoints", String::new()),
        CtlCommand::Stop => ("POST", "/stop", String::new()),
    }
}

/// Runs one `meshsim ctl` command.
pub(crate) fn run(args: CtlArgs) -> Result<Verdict> {
    let text = match args.control {
        Some(c) => c,
        None => std::env::var("MESHSIM_CTL").context(
            "no control address: give --control ADDR or set MESHSIM_CTL (meshsim up prints it)",
        )?,
    };
    let addr = client::parse_addr(&text)?;
    let (method, path, body) = request(&args.command);
    let reply = client::request(addr, method, path, &body)?;
    if reply.status == 200 {
        std::io::stdout().lock().write_all(reply.body.as_bytes())?;
        return Ok(Verdict::Held);
    }
    eprint!("meshsim ctl: refused ({}): {}", reply.status, reply.body);
    Ok(Verdict::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_commands_build_the_timeline_syntax() {
        let stop = CtlCommand::Host {
            command: HostCommand::Stop {
                name: "alb-node-a".into(),
                how: "reset".into(),
            },
        };
        assert_eq!(
            request(&stop).2,
            r#"host.stop: { name: "alb-node-a", how: "reset" }"#
        );
        let set = CtlCommand::Dns {
            command: DnsCommand::Set {
                name: "api.partner.example".into(),
                ips: vec!["52.1.1.10".into(), "52.1.1.11".into()],
                ttl: Some("5s".into()),
            },
        };
        assert_eq!(
            request(&set).2,
            r#"dns.set: { "api.partner.example": { a: ["52.1.1.10", "52.1.1.11"], ttl: "5s" } }"#
        );
    }
}
