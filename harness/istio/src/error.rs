//! The crate's one error type: where in the YAML the problem is, and what it is.
//!
//! [`IstioError`] always carries a position (1-based line and column, relative
//! to the start of the YAML string that was parsed) and a key path such as
//! `spec.http[0].retries.retryOn`, so that a caller that embedded the YAML in a
//! larger file (a scenario) can add its own line offset. The *what* is a closed
//! [`Problem`].

use std::fmt;

/// A position in the parsed YAML (both 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// A problem found at a key path, before the document context is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub(crate) path: String,
    pub(crate) pos: Pos,
    pub(crate) problem: Problem,
}

impl Fault {
    pub(crate) fn new(path: impl Into<String>, pos: Pos, problem: Problem) -> Fault {
        Fault {
            path: path.into(),
            pos,
            problem,
        }
    }
}

/// What is wrong. Messages are lowercase and name the offending values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The text is not valid YAML.
    #[error("invalid yaml: {message}")]
    Syntax {
        /// The YAML parser's message.
        message: String,
    },
    /// A document is not a mapping.
    #[error("a resource must be a mapping, found {found}")]
    NotAResource {
        /// What was found instead (`a sequence`, `a string`...).
        found: &'static str,
    },
    /// `apiVersion` is not one of Istio's networking versions.
    #[error(
        "unsupported apiVersion `{api_version}` (expected networking.istio.io/v1, v1beta1 or v1alpha3; install.istio.io/v1alpha1 for an IstioOperator)"
    )]
    UnsupportedApiVersion {
        /// The value found.
        api_version: String,
    },
    /// `kind` is not one of the kinds meshsim reads.
    #[error(
        "unsupported kind `{kind}` (expected ServiceEntry, VirtualService, DestinationRule, PeerAuthentication or IstioOperator){}",
        hint(suggestion)
    )]
    UnsupportedKind {
        /// The value found.
        kind: String,
        /// The nearest supported kind, if one is close.
        suggestion: Option<String>,
    },
    /// A key that Istio's schema does not have at this place.
    #[error("unknown key `{key}`{} (valid keys: {})", hint(suggestion), valid.join(", "))]
    UnknownKey {
        /// The key found.
        key: String,
        /// The nearest valid key (edit distance), if one is close.
        suggestion: Option<String>,
        /// Every valid key at this place.
        valid: Vec<String>,
    },
    /// A required key is absent.
    #[error("missing required key `{key}`")]
    MissingKey {
        /// The key.
        key: String,
    },
    /// A value has the wrong YAML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The expected type, e.g. `a string`.
        expected: &'static str,
        /// What was found, e.g. `an integer (503)`.
        found: String,
    },
    /// A number outside the range of its field.
    #[error("{value} is out of range for this field ({min}..={max})")]
    OutOfRange {
        /// The value found.
        value: i64,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// An enum value that does not exist.
    #[error("unknown value `{value}` (valid values: {})", valid.join(", "))]
    UnknownEnumValue {
        /// The value found.
        value: String,
        /// Every valid value.
        valid: Vec<String>,
    },
    /// A duration that does not parse with Go's `time.ParseDuration`.
    #[error("invalid duration `{text}`: {reason}")]
    InvalidDuration {
        /// The text found.
        text: String,
        /// Why it does not parse.
        reason: &'static str,
    },
    /// A valid Istio field that meshsim does not model and cannot ignore safely.
    #[error("`{feature}` is not supported by meshsim")]
    Unsupported {
        /// What is not supported.
        feature: String,
    },
    /// A `retryOn` token that is neither an Envoy retry condition nor an HTTP status code.
    #[error("{token:?} is not a valid retryOn policy (valid: {}, or an HTTP status code)", valid.join(", "))]
    InvalidRetryOn {
        /// The token, exactly as split on `,` (Istio does not trim spaces).
        token: String,
        /// Every valid token.
        valid: Vec<String>,
    },
    /// An Istio version string that is not `major.minor`.
    #[error("invalid istio version `{text}` (expected major.minor, e.g. 1.24)")]
    InvalidVersion {
        /// The text given.
        text: String,
    },
    /// Istio's validation webhook rejects the value; the message is Istio's.
    #[error("{message}")]
    Invalid {
        /// Istio's message.
        message: String,
    },
}

fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(", did you mean `{s}`?"),
        None => String::new(),
    }
}

/// An error in Istio YAML: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct IstioError {
    inner: Box<Inner>,
}

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    document: usize,
    kind: Option<String>,
    name: Option<String>,
    pos: Pos,
    path: String,
    problem: Problem,
}

impl IstioError {
    pub(crate) fn new(document: usize, fault: Fault) -> IstioError {
        IstioError {
            inner: Box::new(Inner {
                document,
                kind: None,
                name: None,
                pos: fault.pos,
                path: fault.path,
                problem: fault.problem,
            }),
        }
    }

    pub(crate) fn with_resource(mut self, kind: Option<&str>, name: Option<&str>) -> IstioError {
        self.inner.kind = kind.map(str::to_string);
        self.inner.name = name.map(str::to_string);
        self
    }

    /// The same error with its position moved by `lines` (and, on every line,
    /// by `columns`): for YAML embedded in a larger file, e.g. a scenario's
    /// `istio: |` block that starts after line `lines` and is indented by
    /// `columns` spaces.
    pub fn shifted(mut self, lines: usize, columns: usize) -> IstioError {
        self.inner.pos.line += lines;
        self.inner.pos.column += columns;
        self
    }

    /// The 1-based index of the YAML document (`---`-separated) the error is in.
    pub fn document(&self) -> usize {
        self.inner.document
    }

    /// The resource kind, when it was known.
    pub fn kind(&self) -> Option<&str> {
        self.inner.kind.as_deref()
    }

    /// The resource's `metadata.name`, when it was known.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The 1-based line, relative to the start of the parsed YAML string.
    pub fn line(&self) -> usize {
        self.inner.pos.line
    }

    /// The 1-based column.
    pub fn column(&self) -> usize {
        self.inner.pos.column
    }

    /// The key path, e.g. `spec.http[0].retries.retryOn` (empty for syntax errors
    /// and for a whole document).
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// What is wrong.
    pub fn problem(&self) -> &Problem {
        &self.inner.problem
    }
}

impl fmt::Display for IstioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.inner;
        write!(f, "document {}", e.document)?;
        match (&e.kind, &e.name) {
            (Some(k), Some(n)) => write!(f, " ({k} {n})")?,
            (Some(k), None) => write!(f, " ({k})")?,
            _ => {}
        }
        write!(f, ", line {}, column {}", e.pos.line, e.pos.column)?;
        if !e.path.is_empty() {
            write!(f, ", {}", e.path)?;
        }
        write!(f, ": {}", e.problem)
    }
}

impl std::error::Error for IstioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner.problem)
    }
}
