//! What a plain scalar means, the way Compose reads it: go-yaml v3's `resolve()` for an
//! `interface{}` target (Compose decodes into maps of `interface{}`), and Go's `%v`
//! formatting for the places where Compose turns a value into a string (environment,
//! labels). Only plain, untagged scalars are resolved; quoted and block scalars are
//! strings.

use std::borrow::Cow;

/// A scalar's meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    /// An integer that fits in 64 bits (go-yaml: int, else uint64).
    Int(i64),
    Uint(u64),
    /// A float, including integers too wide for 64 bits (go-yaml falls through to
    /// `ParseFloat` for those, as `1.2345678901234568e+24`).
    Float(f64),
    Str(&'a str),
}

/// The meaning of a plain scalar's text.
pub fn plain(s: &str) -> Resolved<'_> {
    let Some(&first) = s.as_bytes().first() else {
        return Resolved::Null;
    };
    // Most scalars are names, images and paths: decided on the first byte.
    match first {
        b'0'..=b'9' | b'+' | b'-' | b'.' => number(s),
        b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' => word(s),
        _ => Resolved::Str(s),
    }
}

fn word(s: &str) -> Resolved<'_> {
    match s {
        "~" | "null" | "Null" | "NULL" => Resolved::Null,
        "true" | "True" | "TRUE" => Resolved::Bool(true),
        "false" | "False" | "FALSE" => Resolved::Bool(false),
        _ => Resolved::Str(s),
    }
}

fn number(s: &str) -> Resolved<'_> {
    match s {
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    if is_timestamp(s) {
        // go-yaml makes a time.Time of it; for netfence it is text.
        return Resolved::Str(s);
    }
    // go-yaml removes every `_` first, then tries ParseInt(s, 0, 64), ParseUint(s, 0, 64)
    // and its float pattern, in that order.
    let plain: Cow<str> = if s.contains('_') {
        Cow::Owned(s.replace('_', ""))
    } else {
        Cow::Borrowed(s)
    };
    let (negative, body) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, &plain[..]),
    };
    if let Some(magnitude) = go_base0(body) {
        if negative {
            if magnitude <= i64::MAX as u64 + 1 {
                return Resolved::Int((magnitude as i64).wrapping_neg());
            }
        } else if magnitude <= i64::MAX as u64 {
            return Resolved::Int(magnitude as i64);
        } else {
            return Resolved::Uint(magnitude);
        }
    }
    if is_yaml_float(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            // Go's ParseFloat fails on overflow; go-yaml then keeps the text.
            if f.is_finite() {
                return Resolved::Float(f);
            }
        }
    }
    Resolved::Str(s)
}

/// Go's `strconv.ParseUint(s, 0, 64)` of an unsigned body: `0x`, `0o`, `0b` prefixes, a
/// leading `0` for octal, else decimal.
fn go_base0(body: &str) -> Option<u64> {
    let b = body.as_bytes();
    let (digits, radix) = if b.len() > 2 && b[0] == b'0' {
        match b[1] {
            b'x' | b'X' => (&body[2..], 16),
            b'o' | b'O' => (&body[2..], 8),
            b'b' | b'B' => (&body[2..], 2),
            _ => (&body[1..], 8),
        }
    } else if b.len() == 2 && b[0] == b'0' {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.strip_prefix('.') {
        Some(frac) => !frac.is_empty() && digits(frac),
        None => {
            let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
            !int.is_empty() && digits(int) && digits(frac)
        }
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// go-yaml's timestamp shapes (`2001-12-14`, `2001-12-14t21:59:43.10-05:00`,
/// `2001-12-14 21:59:43.10`): four digits and a `-` first, then only what those hold.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..]
            .iter()
            .all(|c| c.is_ascii_digit() || b"-:.tTzZ +".contains(c))
        && b[5..].iter().filter(|c| **c == b'-').count() >= 1
}

impl Resolved<'_> {
    /// The value as Compose turns it into a string (Go's `fmt.Sprint`); `None` for null.
    pub fn to_go_string(&self) -> Option<String> {
        Some(match *self {
            Resolved::Null => return None,
            Resolved::Bool(b) => b.to_string(),
            Resolved::Int(i) => i.to_string(),
            Resolved::Uint(u) => u.to_string(),
            Resolved::Float(f) => go_float(f),
            Resolved::Str(s) => s.to_owned(),
        })
    }
}

/// Go's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 on
/// (`1e+06`, `1.2345675e+06`), `+Inf`, `NaN`.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(s: &str) -> Option<String> {
        plain(s).to_go_string()
    }

    #[test]
    fn compose_reads_plain_scalars_as_go_yaml_does() {
        // The table of docs on Compose's loader (go-yaml v3 + fmt.Sprint).
        for (text, want) in [
            ("0022", "18"),
            ("-0022", "-18"),
            ("08", "8"),
            ("0999", "999"),
            ("0o17", "15"),
            ("0x1F", "31"),
            ("0b101", "5"),
            ("1_000", "1000"),
            ("1e3", "1000"),
            ("1e6", "1e+06"),
            ("1.50", "1.5"),
            ("3.0", "3"),
            ("100000.0", "100000"),
            ("1234567.5", "1.2345675e+06"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("1e-7", "1e-07"),
            ("1_0.5", "10.5"),
            (".5", "0.5"),
            ("5.", "5"),
            ("+.5e2", "50"),
            ("0.1234567890123456789", "0.12345678901234568"),
            ("-0.0", "-0"),
            ("+12", "12"),
            ("12:30", "12:30"),
            ("1:20:30", "1:20:30"),
            ("9007199254740993", "9007199254740993"),
            ("12345678901234567890", "12345678901234567890"),
            ("0xFFFFFFFFFFFFFFFF", "18446744073709551615"),
            ("123456789012345678901", "1.2345678901234568e+20"),
            ("1e21", "1e+21"),
            ("yes", "yes"),
            ("on", "on"),
            ("n", "n"),
            ("True", "true"),
            ("FALSE", "false"),
            (".inf", "+Inf"),
            ("-.inf", "-Inf"),
            (".nan", "NaN"),
            ("010.1.1.1", "010.1.1.1"),
            ("1e400", "1e400"),
            ("-", "-"),
            ("2001-12-14", "2001-12-14"),
        ] {
            assert_eq!(go(text).as_deref(), Some(want), "{text}");
        }
        for null in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(plain(null), Resolved::Null);
        }
        assert_eq!(plain("-9223372036854775808"), Resolved::Int(i64::MIN));
        assert!(matches!(plain("-9223372036854775809"), Resolved::Float(_)));
        assert_eq!(plain("18446744073709551615"), Resolved::Uint(u64::MAX));
        assert!(matches!(plain("18446744073709551616"), Resolved::Float(_)));
    }
}
