//! Mesh-wide access logging (`MeshConfig.accessLogFile`,
//! `accessLogEncoding`, `accessLogFormat`) -> the sidecar's access log, as
//! pilot does when no Telemetry resource applies (fact sheet §5.4). The
//! Telemetry API is not modelled.

use meshsim_sidecar::config::AccessLogConfig;

use crate::version::MeshConfig;

/// The sidecar's access log: on when `accessLogFile` is non-empty, in the
/// mesh's encoding.
pub(crate) fn access_log(mesh: &MeshConfig) -> Option<AccessLogConfig> {
    (!mesh.access_log_file.is_empty()).then(|| AccessLogConfig {
        path: mesh.access_log_file.clone(),
        encoding: mesh.access_log_encoding,
        ..AccessLogConfig::default()
    })
}

/// One line per mesh setting that is accepted but has no effect in the
/// simulation: a custom `accessLogFormat` (lines keep Istio's default
/// format).
pub fn mesh_unmodelled(mesh: &MeshConfig) -> Vec<String> {
    let mut out = Vec::new();
    if !mesh.access_log_format.is_empty() {
        out.push(
            "MeshConfig: accessLogFormat is accepted but not simulated (custom formats are not \
             modelled; lines use Istio's default format)"
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use meshsim_sidecar::config::AccessLogEncoding;

    use super::*;
    use crate::version::IstioVersion;

    fn mesh() -> MeshConfig {
        MeshConfig::for_version(IstioVersion::new(1, 24))
    }

    /// Fact sheet §5.4: access logging is off unless `accessLogFile` is set.
    #[test]
    fn access_log_is_off_unless_access_log_file_is_set() {
        assert_eq!(access_log(&mesh()), None);
        let on = MeshConfig {
            access_log_file: "/dev/stdout".into(),
            access_log_encoding: AccessLogEncoding::Json,
            ..mesh()
        };
        let cfg = access_log(&on).unwrap();
        assert_eq!(cfg.path, "/dev/stdout");
        assert_eq!(cfg.encoding, AccessLogEncoding::Json);
    }

    #[test]
    fn a_custom_access_log_format_is_reported_as_not_simulated() {
        assert!(mesh_unmodelled(&mesh()).is_empty());
        let custom = MeshConfig {
            access_log_format: "%START_TIME% %RESPONSE_CODE%\n".into(),
            ..mesh()
        };
        let lines = mesh_unmodelled(&custom);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("accessLogFormat is accepted but not simulated"));
    }
}
