//! The Kubernetes envelope of a resource: `apiVersion`, `kind`, `metadata`,
//! `spec`; and the dispatch to the spec decoder of each kind.

use super::{
    Cx, Keys, Obj, destination_rule, mesh_config, peer_authentication, service_entry, string,
    virtual_service,
};
use crate::error::{Fault, IstioError, Problem};
use crate::model::{ResourceMeta, Resources};
use crate::suggest;
use crate::yaml::Node;

const API_VERSIONS: &[&str] = &[
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
];
/// The `apiVersion`s of the security kinds.
const SECURITY_API_VERSIONS: &[&str] = &["security.istio.io/v1", "security.istio.io/v1beta1"];
const KINDS: &[&str] = &[
    "ServiceEntry",
    "VirtualService",
    "DestinationRule",
    "PeerAuthentication",
    "IstioOperator",
];
/// The `apiVersion` of an `IstioOperator`.
const OPERATOR_API_VERSION: &str = "install.istio.io/v1alpha1";
const METADATA_SKIPPED: &[&str] = &[
    "labels",
    "annotations",
    "generation",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generateName",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// Decodes one document into `out`.
pub(crate) fn decode_document(
    doc: &Node,
    document: usize,
    out: &mut Resources,
) -> Result<(), IstioError> {
    let mut cx = Cx::default();
    cx.positions.insert(String::new(), doc.pos);
    let top = Keys {
        known: &["apiVersion", "kind", "metadata", "spec"],
        skipped: &["status"],
        unsupported: &[],
        silent: true,
    };
    let root = Obj::open(&mut cx, doc, "", &top).map_err(|f| not_a_resource(doc, f, document))?;
    let kind = decode_kind(&root).map_err(|f| IstioError::new(document, f))?;
    if kind == "IstioOperator" {
        return decode_operator(cx, &root, document, out);
    }
    let (name, namespace) =
        decode_metadata(&mut cx, &root).map_err(|f| located(document, kind, None, f))?;
    let fail = |f: Fault| located(document, kind, Some(&name), f);
    let api_version = decode_api_version(&root, kind).map_err(&fail)?;
    let (spec, spec_path) = root.require("spec").map_err(&fail)?;
    let meta = |cx: Cx| ResourceMeta {
        document,
        api_version: api_version.clone(),
        name: name.clone(),
        namespace: namespace.clone(),
        ignored: cx.ignored,
        positions: cx.positions,
    };
    match kind {
        "ServiceEntry" => {
            let mut se = service_entry::decode(&mut cx, spec, &spec_path).map_err(&fail)?;
            se.meta = meta(cx);
            out.service_entries.push(se);
        }
        "VirtualService" => {
            let mut vs = virtual_service::decode(&mut cx, spec, &spec_path).map_err(&fail)?;
            vs.meta = meta(cx);
            vs.resolve_short_names();
            out.virtual_services.push(vs);
        }
        "PeerAuthentication" => {
            let mut pa = peer_authentication::decode(&mut cx, spec, &spec_path).map_err(&fail)?;
            pa.meta = meta(cx);
            out.peer_authentications.push(pa);
        }
        _ => {
            let mut dr = destination_rule::decode(&mut cx, spec, &spec_path).map_err(&fail)?;
            dr.meta = meta(cx);
            dr.host = crate::kube::resolve_short_name(&dr.host, dr.meta.namespace.as_deref());
            out.destination_rules.push(dr);
        }
    }
    Ok(())
}

/// An `IstioOperator`: metadata optional (install files often omit it), its
/// `spec.meshConfig` kept; a second one with a `meshConfig` is an error, as
/// one mesh has one `MeshConfig`.
fn decode_operator(
    mut cx: Cx,
    root: &Obj<'_>,
    document: usize,
    out: &mut Resources,
) -> Result<(), IstioError> {
    let name = match root.get("metadata") {
        Some(_) => {
            decode_metadata(&mut cx, root)
                .map_err(|f| located(document, "IstioOperator", None, f))?
                .0
        }
        None => String::new(),
    };
    let named = (!name.is_empty()).then_some(name.as_str());
    let fail = |f: Fault| located(document, "IstioOperator", named, f);
    let (node, path) = root.require("apiVersion").map_err(&fail)?;
    let api_version = string(node, &path).map_err(&fail)?;
    if api_version != OPERATOR_API_VERSION {
        let problem = Problem::UnsupportedApiVersion { api_version };
        return Err(fail(Fault::new(path, node.pos, problem)));
    }
    let (spec, spec_path) = root.require("spec").map_err(&fail)?;
    let Some(mut mesh) = mesh_config::decode_operator(&mut cx, spec, &spec_path).map_err(&fail)?
    else {
        return Ok(());
    };
    if out.mesh_config.is_some() {
        let problem = Problem::Invalid {
            message:
                "a second IstioOperator sets meshConfig; one mesh has one MeshConfig: merge them"
                    .into(),
        };
        return Err(fail(Fault::new(spec_path, spec.pos, problem)));
    }
    mesh.meta = ResourceMeta {
        document,
        api_version,
        name,
        namespace: None,
        ignored: cx.ignored,
        positions: cx.positions,
    };
    out.mesh_config = Some(mesh);
    Ok(())
}

fn located(document: usize, kind: &str, name: Option<&str>, fault: Fault) -> IstioError {
    IstioError::new(document, fault).with_resource(Some(kind), name)
}

fn not_a_resource(doc: &Node, fault: Fault, document: usize) -> IstioError {
    let fault = match fault.problem {
        Problem::WrongType { .. } => {
            let found = match doc.value {
                crate::yaml::Value::Seq(_) => "a sequence",
                _ => "a scalar",
            };
            Fault::new("", doc.pos, Problem::NotAResource { found })
        }
        _ => fault,
    };
    IstioError::new(document, fault)
}

fn decode_kind(root: &Obj<'_>) -> Result<&'static str, Fault> {
    let (node, path) = root.require("kind")?;
    let kind = string(node, &path)?;
    KINDS.iter().copied().find(|k| *k == kind).ok_or_else(|| {
        let suggestion = suggest::nearest(&kind, KINDS.iter().copied());
        Fault::new(
            path,
            node.pos,
            Problem::UnsupportedKind { kind, suggestion },
        )
    })
}

fn decode_api_version(root: &Obj<'_>, kind: &str) -> Result<String, Fault> {
    let (node, path) = root.require("apiVersion")?;
    let api_version = string(node, &path)?;
    let known = match kind {
        "PeerAuthentication" => SECURITY_API_VERSIONS,
        _ => API_VERSIONS,
    };
    if known.contains(&api_version.as_str()) {
        Ok(api_version)
    } else {
        Err(Fault::new(
            path,
            node.pos,
            Problem::UnsupportedApiVersion { api_version },
        ))
    }
}

fn decode_metadata(cx: &mut Cx, root: &Obj<'_>) -> Result<(String, Option<String>), Fault> {
    let (node, path) = root.require("metadata")?;
    let keys = Keys {
        known: &["name", "namespace"],
        skipped: METADATA_SKIPPED,
        unsupported: &[],
        silent: true,
    };
    let meta = Obj::open(cx, node, &path, &keys)?;
    let (name_node, name_path) = meta.require("name")?;
    let name = string(name_node, &name_path)?;
    let namespace = meta.opt("namespace", string)?;
    Ok((name, namespace))
}
