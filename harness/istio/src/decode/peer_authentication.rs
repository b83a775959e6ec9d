//! `PeerAuthentication.spec` (`security.istio.io/v1`, `v1beta1`), with the
//! rules of Istio's validation webhook that apply to it.

use std::collections::BTreeMap;

use meshsim_sidecar::tls::MtlsMode;

use super::{Cx, Keys, Obj, enumeration, join, map_of, string, wrong};
use crate::error::{Fault, Problem};
use crate::model::PeerAuthentication;
use crate::yaml::{Node, Value};

const SPEC: Keys<'static> = Keys::only(&["selector", "mtls", "portLevelMtls"]);
const SELECTOR: Keys<'static> = Keys::only(&["matchLabels"]);
const MTLS: Keys<'static> = Keys::only(&["mode"]);

/// Decodes `spec` of a PeerAuthentication (its `meta` is filled by the
/// caller).
pub(crate) fn decode(cx: &mut Cx, spec: &Node, path: &str) -> Result<PeerAuthentication, Fault> {
    let obj = Obj::open(cx, spec, path, &SPEC)?;
    let mut pa = PeerAuthentication::default();
    if let Some((n, p)) = obj.get("selector") {
        let sel = Obj::open(cx, n, &p, &SELECTOR)?;
        let labels = match sel.get("matchLabels") {
            Some((n, p)) => map_of(cx, n, &p, string)?,
            None => BTreeMap::new(),
        };
        pa.selector = (!labels.is_empty()).then_some(labels);
    }
    if let Some((n, p)) = obj.get("mtls") {
        pa.mode = decode_mtls(cx, n, &p)?;
    }
    if let Some((n, p)) = obj.get("portLevelMtls") {
        if pa.selector.is_none() {
            let message =
                "mesh/namespace peer authentication cannot have port level mTLS: add a selector"
                    .to_string();
            return Err(Fault::new(p, n.pos, Problem::Invalid { message }));
        }
        pa.port_level = decode_ports(cx, n, &p)?;
    }
    Ok(pa)
}

/// `{ mode: UNSET | DISABLE | PERMISSIVE | STRICT }`; `None` for UNSET.
fn decode_mtls(cx: &mut Cx, node: &Node, path: &str) -> Result<Option<MtlsMode>, Fault> {
    let obj = Obj::open(cx, node, path, &MTLS)?;
    let mode = obj.opt("mode", |n, p| {
        let values = [
            (None, "UNSET"),
            (Some(MtlsMode::Disable), "DISABLE"),
            (Some(MtlsMode::Permissive), "PERMISSIVE"),
            (Some(MtlsMode::Strict), "STRICT"),
        ];
        enumeration(n, p, &values)
    })?;
    Ok(mode.flatten())
}

/// `portLevelMtls`: a mapping from port number (1..=65535) to `{ mode }`.
fn decode_ports(
    cx: &mut Cx,
    node: &Node,
    path: &str,
) -> Result<BTreeMap<u16, Option<MtlsMode>>, Fault> {
    let Value::Map(entries) = &node.value else {
        return Err(wrong(node, path, "a mapping"));
    };
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let key = k.key_text();
        let p = join(path, &key);
        cx.positions.insert(p.clone(), v.pos);
        let port = key.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| {
            let message = format!("port {key:?} must be a number between 1 and 65535");
            Fault::new(p.clone(), v.pos, Problem::Invalid { message })
        })?;
        out.insert(port, decode_mtls(cx, v, &p)?);
    }
    Ok(out)
}
