//! Published ports: `ephemeral` drops the fixed host port (Docker picks a free one),
//! `loopback` also binds to 127.0.0.1, `keep` leaves them. Host IP, container port,
//! ranges and protocol are kept; `${VAR}` text is never interpolated.

use crate::yaml::{Scalar, Value};

use crate::policy::PortsMode;
use crate::yaml::key;

/// Splits on `:` outside `${...}` and `[...]`, the two places a colon is not a separator.
pub fn split_short(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth_brace, mut depth_bracket, mut start) = (0i32, 0i32, 0usize);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth_brace += 1;
                i += 1;
            }
            b'}' if depth_brace > 0 => depth_brace -= 1,
            b'[' => depth_bracket += 1,
            b']' if depth_bracket > 0 => depth_bracket -= 1,
            b':' if depth_brace == 0 && depth_bracket == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

/// A short-syntax port split into its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortPort {
    pub host_ip: Option<String>,
    pub published: Option<String>,
    /// The container port with its `/protocol`, as written.
    pub target: String,
}

impl ShortPort {
    pub fn parse(s: &str) -> ShortPort {
        let parts = split_short(s);
        match parts.len() {
            1 => ShortPort {
                host_ip: None,
                published: None,
                target: parts[0].to_owned(),
            },
            2 => ShortPort {
                host_ip: None,
                published: Some(parts[0].to_owned()).filter(|p| !p.is_empty()),
                target: parts[1].to_owned(),
            },
            n => ShortPort {
                host_ip: Some(parts[..n - 2].join(":")).filter(|p| !p.is_empty()),
                published: Some(parts[n - 2].to_owned()).filter(|p| !p.is_empty()),
                target: parts[n - 1].to_owned(),
            },
        }
    }

    pub fn render(&self) -> String {
        match (&self.host_ip, &self.published) {
            (Some(ip), p) => format!("{ip}:{}:{}", p.as_deref().unwrap_or(""), self.target),
            (None, Some(p)) => format!("{p}:{}", self.target),
            (None, None) => self.target.clone(),
        }
    }
}

pub fn is_loopback(ip: &str) -> bool {
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    ip.starts_with("127.") || ip == "::1" || ip == "localhost"
}

const LOOPBACK: &str = "127.0.0.1";

/// The rewritten port entry, or `None` when it stays as it is.
pub fn rewrite(port: &Value, mode: PortsMode) -> Option<Value> {
    if mode == PortsMode::Keep {
        return None;
    }
    match port {
        Value::Scalar(scalar) if port.is_string() => {
            let s = scalar.text();
            let mut p = ShortPort::parse(s);
            p.published = None;
            if mode == PortsMode::Loopback && !p.host_ip.as_deref().is_some_and(is_loopback) {
                p.host_ip = Some(LOOPBACK.into());
            }
            let out = p.render();
            // The new value keeps the quotes the entry was written with.
            (out != s).then(|| Value::Scalar(Scalar::string(out).with_quotes_of(scalar)))
        }
        Value::Scalar(_) if port.is_number() && mode == PortsMode::Loopback => {
            let n = crate::yaml::scalar_string(port)?;
            Some(Value::from(format!("{LOOPBACK}::{n}")))
        }
        Value::Mapping(m) => {
            let mut m2 = m.clone();
            m2.shift_remove("published");
            if mode == PortsMode::Loopback {
                let bound = m2
                    .get("host_ip")
                    .and_then(Value::as_str)
                    .is_some_and(is_loopback);
                if !bound {
                    m2.insert(key("host_ip"), key(LOOPBACK));
                }
            }
            (m2 != *m).then_some(Value::Mapping(m2))
        }
        _ => None,
    }
}

/// The host port a port entry publishes on, if it fixes one (for audit and run).
pub fn fixed_host_port(port: &Value) -> Option<String> {
    match port {
        Value::Scalar(_) => ShortPort::parse(port.as_str()?).published,
        Value::Mapping(m) => m.get("published").and_then(crate::yaml::scalar_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eph(s: &str) -> String {
        match rewrite(&Value::from(s), PortsMode::Ephemeral) {
            Some(o) if o.is_string() => o.as_str().unwrap().to_owned(),
            None => s.to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ephemeral_short_forms() {
        assert_eq!(eph("${DEV_POSTGRES_PORT:-5433}:5432"), "5432");
        assert_eq!(eph("127.0.0.1:8000:8000"), "127.0.0.1::8000");
        assert_eq!(eph("8000-8010:8000-8010"), "8000-8010");
        assert_eq!(eph("53:53/udp"), "53/udp");
        assert_eq!(eph("5432"), "5432");
        assert_eq!(eph("[::1]:8080:80"), "[::1]::80");
        assert_eq!(
            eph("${IP:-0.0.0.0}:${P}:${C:-80}"),
            "${IP:-0.0.0.0}::${C:-80}"
        );
        assert_eq!(eph("127.0.0.1::8000"), "127.0.0.1::8000");
    }

    #[test]
    fn loopback_binds_to_127() {
        let l = |s: &str| rewrite(&Value::from(s), PortsMode::Loopback);
        assert_eq!(l("8080:80"), Some(Value::from("127.0.0.1::80")));
        assert_eq!(l("127.0.0.1::80"), None);
        assert_eq!(
            rewrite(&Value::from(80), PortsMode::Loopback),
            Some(Value::from("127.0.0.1::80"))
        );
    }

    #[test]
    fn long_syntax_loses_published() {
        let v: Value =
            crate::yaml::from_str("{target: 80, published: '8080', protocol: tcp}").unwrap();
        let out = rewrite(&v, PortsMode::Ephemeral).unwrap();
        assert_eq!(
            out,
            crate::yaml::from_str("{target: 80, protocol: tcp}").unwrap()
        );
        assert_eq!(rewrite(&v, PortsMode::Keep), None);
    }

    #[test]
    fn fixed_host_port_is_found() {
        assert_eq!(
            fixed_host_port(&Value::from("${P:-5433}:5432")),
            Some("${P:-5433}".into())
        );
        assert_eq!(fixed_host_port(&Value::from("5432")), None);
    }
}
