//! Validation of HTTP/2 external hosts (`protocol: http2` and its `http2`
//! table) and of the timeline's `host.set` / `host.goaway`.

use std::time::Duration;

use meshsim_upstream::Http2Mode;
use serde_saphyr::Spanned;

use super::world::bounded;
use super::{Ctx, known_host};
use crate::error::EngineError;
use crate::scenario::file::{EventFile, ExternalFile, Http2File};
use crate::scenario::{Action, ExternalSpec, Http2Change};

/// The longest `max_connection_age` or `host.set` window (30 days).
const MAX_AGE: Duration = Duration::from_secs(30 * 86_400);

/// An external host's HTTP/2 mode: `None` for HTTP/1.1 (`protocol: http`,
/// the default) and for the server-first `protocol: mysql`
/// ([`server_first`]).
pub(super) fn mode(cx: &Ctx<'_>, e: &ExternalFile) -> Result<Option<Http2Mode>, EngineError> {
    let protocol = e
        .protocol
        .as_ref()
        .map(|p| (p.value.as_str(), &p.referenced));
    match protocol {
        None | Some(("http", _)) => match &e.http2 {
            Some(h) => Err(cx.err(
                Some(&h.referenced),
                "",
                "an `http2` table needs `protocol: http2`",
            )),
            None => Ok(None),
        },
        Some(("http2", loc)) => {
            if e.keepalive_timeout.is_some() || e.max_requests_per_connection.is_some() {
                let msg = "keepalive_timeout and max_requests_per_connection apply to HTTP/1.1 hosts; an http2 host ends connections with http2.max_connection_age or http2.goaway_after_streams";
                return Err(cx.err(Some(loc), "", msg));
            }
            let change = match &e.http2 {
                Some(h) => knobs(cx, &h.value)?,
                None => Http2Change::default(),
            };
            Ok(Some(change.apply(&Http2Mode::default())))
        }
        Some(("mysql", loc)) => {
            let http_keys = e.http2.is_some()
                || e.keepalive_timeout.is_some()
                || e.max_requests_per_connection.is_some()
                || !e.routes.is_empty();
            if http_keys {
                let msg = "a mysql host greets and echoes: http2, keepalive_timeout, max_requests_per_connection and routes apply to HTTP hosts";
                return Err(cx.err(Some(loc), "", msg));
            }
            Ok(None)
        }
        Some((other, loc)) => Err(cx.err(
            Some(loc),
            "",
            format!("unsupported protocol {other:?}; use http (HTTP/1.1), http2 (h2c, prior knowledge) or mysql (server-first: a greeting, then echo)"),
        )),
    }
}

/// Whether the host speaks first (`protocol: mysql`: a MySQL greeting on
/// accept, then an echo; fact sheet §7.2).
pub(super) fn server_first(e: &ExternalFile) -> bool {
    e.protocol.as_ref().is_some_and(|p| p.value == "mysql")
}

/// The knobs of an `http2` table, each checked.
fn knobs(cx: &Ctx<'_>, f: &Http2File) -> Result<Http2Change, EngineError> {
    let count = |key: &str, v: &Option<Spanned<u32>>| match v {
        Some(v) if v.value == 0 => Err(cx.err(
            Some(&v.referenced),
            "",
            format!("{key} must be at least 1 (leave it out to turn it off)"),
        )),
        Some(v) => Ok(Some(v.value)),
        None => Ok(None),
    };
    Ok(Http2Change {
        max_concurrent_streams: count("max_concurrent_streams", &f.max_concurrent_streams)?,
        refuse_every_nth: count("refuse_every_nth", &f.refuse_every_nth)?,
        refuse_over_in_flight: count("refuse_over_in_flight", &f.refuse_over_in_flight)?,
        goaway_after_streams: count("goaway_after_streams", &f.goaway_after_streams)?,
        max_connection_age: f
            .max_connection_age
            .as_ref()
            .map(|d| bounded(cx, d, false, MAX_AGE))
            .transpose()?,
    })
}

/// A `host.set` or `host.goaway` timeline entry, checked against the
/// external hosts; `None` for other entries.
pub(super) fn event(
    cx: &Ctx<'_>,
    e: &EventFile,
    external: &[ExternalSpec],
) -> Result<Option<Action>, EngineError> {
    if let Some(g) = &e.host_goaway {
        let name = http2_host(cx, &g.name, external, "host.goaway")?;
        return Ok(Some(Action::HostGoaway { name }));
    }
    let Some(s) = &e.host_set else {
        return Ok(None);
    };
    let name = http2_host(cx, &s.name, external, "host.set")?;
    let http2 = knobs(cx, &s.http2.value)?;
    if http2 == Http2Change::default() {
        let msg = "host.set needs at least one http2 knob: max_concurrent_streams, refuse_every_nth, refuse_over_in_flight, goaway_after_streams, max_connection_age";
        return Err(cx.err(Some(&s.http2.referenced), "", msg));
    }
    let window = s
        .for_
        .as_ref()
        .map(|w| bounded(cx, w, false, MAX_AGE))
        .transpose()?;
    Ok(Some(Action::HostSet {
        name,
        http2,
        window,
    }))
}

/// The name of an external host that speaks HTTP/2.
fn http2_host(
    cx: &Ctx<'_>,
    name: &Spanned<String>,
    external: &[ExternalSpec],
    what: &str,
) -> Result<String, EngineError> {
    let found = known_host(cx, name, external)?;
    if external
        .iter()
        .any(|x| x.name == found && x.upstream.http2.is_some())
    {
        return Ok(found);
    }
    let msg = format!("{what} acts on HTTP/2 hosts; {found:?} is not `protocol: http2`");
    Err(cx.err(Some(&name.referenced), "", msg))
}
