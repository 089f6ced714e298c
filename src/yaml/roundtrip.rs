//! Round trips of the parser and emitter: text kept, values kept, layout as
//! serde_yaml_ng's, and no panic on any input.

use proptest::prelude::*;

use super::*;

fn p(s: &str) -> Value {
    from_str(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn round(s: &str) -> String {
    to_string(&p(s))
}

/// Equal down to each scalar's text, class (string or not) and tag; plain scalars stay
/// plain, quoted ones quoted.
fn same(a: &Value, b: &Value) -> std::result::Result<(), String> {
    match (a, b) {
        (Value::Scalar(x), Value::Scalar(y)) => {
            let plain = |s: &Scalar| matches!(s.style(), Style::Plain);
            // A plain text that libyaml's analysis finds unsafe (a line break from a
            // blank line in a multi-line plain, a key ending in `:`) is written quoted.
            let kept = plain(x) == plain(y) || !super::emit::plain_allowed(x.text());
            // An empty (null) key is written `null`.
            let text = x.text() == y.text() || (x.text().is_empty() && y.text() == "null");
            if x != y || !text || x.tag() != y.tag() || !kept {
                return Err(format!(
                    "{x:?} ({:?}) != {y:?} ({:?})",
                    x.style(),
                    y.style()
                ));
            }
            Ok(())
        }
        (Value::Sequence(x), Value::Sequence(y)) if x.len() == y.len() => {
            x.iter().zip(y).try_for_each(|(a, b)| same(a, b))
        }
        (Value::Mapping(x), Value::Mapping(y)) if x.len() == y.len() => {
            x.iter().zip(y).try_for_each(|((ka, va), (kb, vb))| {
                same(ka, kb)?;
                same(va, vb).map_err(|e| format!("{ka:?}: {e}"))
            })
        }
        (Value::Tagged(x), Value::Tagged(y)) if x.tag == y.tag => same(&x.value, &y.value),
        _ => Err(format!("{a:?} != {b:?}")),
    }
}

#[test]
fn scalars_keep_their_text_and_style() {
    let text = "\
a: 0022
b: '0022'
c: \"0022\"
d: on
e: 1e3
f: 12:30
g: .inf
h: ~
i: null
j:
k: 0x1F
l: 0o17
m: 12345678901234567890123
n: !!str 42
o: !!int \"42\"
p: ${VAR:-default}
q: $$HOME
r: \"say \\\"hi\\\"\\t\"
s: 'it''s'
t: |
  line one
    indented
  line three
u: >
  folded text

  para
v: |-
  kept
w: !reset []
x: !override
  y: 1
";
    let out = round(text);
    assert_eq!(out, text);
}

#[test]
fn layout_is_serde_yaml_ngs() {
    let text = "\
top:
  list:
  - a
  - b: 1
    c: [x, {y: z}]
  - - nested
    - seq
  empty_map: {}
  empty_list: []
  tagged: !override
  - p
  tagged_map: !custom
    k: v
";
    let out = round(text);
    let serde: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
    assert_eq!(out, serde_yaml_ng::to_string(&serde).unwrap());
}

#[test]
fn flow_collections_are_written_in_block_style() {
    assert_eq!(round("a: [1, '2', \"3\"]\n"), "a:\n- 1\n- '2'\n- \"3\"\n");
    assert_eq!(round("{a: {b: c}}"), "a:\n  b: c\n");
}

#[test]
fn multi_line_plain_and_odd_quoted_values_keep_their_meaning() {
    let v = p("a: one\n  two\nb: 'x\n\n  y'\nc: \"tab\\there\"\nd: '  lead'\n");
    let out = to_string(&v);
    same(&v, &p(&out)).unwrap();
    assert!(out.contains("a: one two\n"), "{out}");
}

#[test]
fn anchors_aliases_and_merge_keys_are_resolved() {
    let v = p("x: &a {image: i, restart: always}\ns:\n  <<: *a\n  image: j\nl: *a\n");
    assert_eq!(
        to_string(&v),
        "x:\n  image: i\n  restart: always\ns:\n  restart: always\n  image: j\nl:\n  image: i\n  restart: always\n"
    );
    // A quoted `<<` is an ordinary key.
    assert!(p("a: {'<<': {b: c}}")["a"].get("<<").is_some());
    assert!(p("x: &a {b: c}\na: {! '<<': *a}")["a"].get("b").is_none());
    // A `!reset` entry is dropped before `<<` merges, as Compose drops it.
    let v = p("x: &a {b: c}\na: {<<: *a, b: !reset null, d: !reset null}");
    assert_eq!(v["a"].get("b").and_then(|b| b.as_str()), Some("c"));
    assert!(matches!(v["a"].get("d"), Some(Value::Tagged(_))));
    // Tagged ones merge, as Compose merges them.
    for key in ["!!merge <<", "!!merge '<<'", "! <<"] {
        let v = p(&format!("x: &a {{b: c}}\na: {{{key}: *a, d: e}}"));
        assert_eq!(v["a"].get("b").and_then(|b| b.as_str()), Some("c"), "{key}");
        assert!(v["a"].get("<<").is_none(), "{key}");
    }
}

#[test]
fn refusals_name_line_and_column() {
    let e = from_str("a: 1\na: 2\n").unwrap_err().to_string();
    assert!(e.contains(":2:1: duplicate entry with key"), "{e}");
    let e = from_str("a: *nope\n").unwrap_err().to_string();
    assert!(e.contains(":1:4: unknown anchor"), "{e}");
    let e = from_str("a: 1\n---\nb: 2\n").unwrap_err().to_string();
    assert!(e.contains("more than one YAML document"), "{e}");
    let deep = format!("a: {}{}\n", "[".repeat(150), "]".repeat(150));
    let e = from_str(&deep).unwrap_err().to_string();
    assert!(e.contains(":1:103: nesting deeper than 100"), "{e}");
    let aliased = format!(
        "a: &x {}1{}\nb: {}*x{}\n",
        "[".repeat(10),
        "]".repeat(10),
        "[".repeat(95),
        "]".repeat(95)
    );
    let e = from_str(&aliased).unwrap_err().to_string();
    assert!(e.contains("nesting deeper"), "{e}");
    let e = from_str("[a, b]: c\n").unwrap_err().to_string();
    assert!(e.contains("must be a scalar"), "{e}");
}

#[test]
fn integers_of_any_width_pass_through() {
    let v = p("a: 123456789012345678901234567890\nb: -9223372036854775809\n");
    assert_eq!(
        to_string(&v),
        "a: 123456789012345678901234567890\nb: -9223372036854775809\n"
    );
    assert!(v["a"].is_number() && v["a"].as_u64().is_none());
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"a":1.2345678901234568e+29,"b":-9.223372036854776e+18}"#
    );
}

#[test]
fn json_reads_scalars_as_compose_does() {
    let v = p("a: 0022\nb: '0022'\nc: on\nd: 1e3\ne: ~\nf: !reset x\ng: true\n");
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"a":18,"b":"0022","c":"on","d":1000.0,"e":null,"f":{"!reset":"x"},"g":true}"#
    );
}

#[test]
fn block_scalars_keep_their_chomping() {
    for text in [
        "a: |+\n  x\n\n",
        "a: |+\n  x\n\nb: 1\n",
        "a: |-\n  x\nb: |\n  y\n",
        "a: |2-\n   lead\n  x\n",
        "- >-\n  x\n\n  y\n",
    ] {
        assert_eq!(round(text), text);
    }
}

#[test]
fn long_keys_use_the_explicit_form() {
    let k = "k".repeat(130);
    let text = format!("{k}: v\nm:\n  {k}:\n  - 1\n");
    let out = round(&text);
    assert_eq!(out, format!("? {k}\n: v\nm:\n  ? {k}\n  : - 1\n"));
    same(&p(&text), &p(&out)).unwrap();
}

#[test]
fn writing_in_chunks_gives_the_same_text() {
    let mut text = String::from("services:\n");
    for i in 0..3000 {
        text.push_str(&format!(
            "  s{i}:\n    image: \"x:{i}\"\n    ports: ['{i}:80']\n"
        ));
    }
    let v = p(&text);
    let mut out = Vec::new();
    to_writer(&v, &mut out).unwrap();
    assert!(out.len() > 100_000);
    assert_eq!(String::from_utf8(out).unwrap(), to_string(&v));
}

#[test]
fn odd_documents_read_back_the_same() {
    // Cases the properties below once found.
    for text in ["a\n\n$", "?", "<::", "- - |+\n    x\n\n"] {
        let v = p(text);
        let out = to_string(&v);
        same(&v, &p(&out)).unwrap_or_else(|e| panic!("{text:?}: {e}\n{out}"));
    }
}

// ---- properties -----------------------------------------------------------------------

/// Strings that stress quoting: indicators, spaces, numbers, booleans, breaks, escapes.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "~",
            "null",
            "true",
            "False",
            "yes",
            "on",
            "n",
            "0022",
            "08",
            "0x1F",
            "0o17",
            "1e3",
            "1.5",
            ".inf",
            "-.inf",
            ".nan",
            "12:30",
            "- x",
            "-",
            "?",
            ":",
            "a: b",
            "a #b",
            "#c",
            "[x]",
            "{y}",
            "*z",
            "&w",
            "!t",
            "|",
            ">",
            "'q'",
            "\"d\"",
            "%",
            "@",
            "`",
            "---",
            "...",
            " lead",
            "trail ",
            "a\nb",
            "a\n",
            "\nb",
            "a \nb",
            "a\n b",
            "x\n\n",
            "\\",
            "é",
            "\u{a0}",
            "\u{85}",
            "\u{1b}",
            "\u{7f}",
            "\u{feff}",
            "<<",
            "${A:-b}",
            "$$x",
            "12345678901234567890123",
        ])
        .prop_map(str::to_owned),
        "[a-z0-9 :#\\-'\"\n.,\\[\\]{}&*!|>%@`~]{0,12}",
    ]
}

fn serde_tree() -> impl Strategy<Value = serde_yaml_ng::Value> {
    use serde_yaml_ng::Value as Y;
    let leaf = prop_oneof![
        tricky_string().prop_map(Y::String),
        any::<i64>().prop_map(Y::from),
        any::<bool>().prop_map(Y::Bool),
        Just(Y::Null),
        (-1e9f64..1e9).prop_map(Y::from),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Y::Sequence),
            prop::collection::vec((tricky_string(), inner.clone()), 0..4).prop_map(
                |kv| Y::Mapping(kv.into_iter().map(|(k, v)| (Y::String(k), v)).collect())
            ),
            (prop::sample::select(vec!["reset", "override", "x"]), inner).prop_map(|(t, v)| {
                Y::Tagged(Box::new(serde_yaml_ng::value::TaggedValue {
                    tag: serde_yaml_ng::value::Tag::new(t),
                    value: v,
                }))
            }),
        ]
    })
}

/// The same tree as values netfence would make (strings to be quoted where needed).
fn from_serde(v: &serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::null(),
        Y::Bool(b) => Value::from(*b),
        Y::Number(_) => Value::Scalar(Scalar::plain(
            serde_yaml_ng::to_string(v).unwrap().trim_end(),
        )),
        Y::String(s) => Value::from(s.as_str()),
        Y::Sequence(s) => Value::Sequence(s.iter().map(from_serde).collect()),
        Y::Mapping(m) => Value::Mapping(
            m.iter()
                .map(|(k, v)| (from_serde(k), from_serde(v)))
                .collect(),
        ),
        Y::Tagged(t) => Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(&t.tag.to_string()),
            value: from_serde(&t.value),
        })),
    }
}

/// Strings where go-yaml and YAML 1.2 disagree are quoted by netfence and not by
/// serde_yaml_ng; the layout comparison leaves them out.
fn goyaml_only(v: &serde_yaml_ng::Value) -> bool {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::String(s) => {
            !matches!(resolve::plain(s), Resolved::Str(_)) && {
                let back: Y = serde_yaml_ng::from_str(s).unwrap_or(Y::Null);
                back == Y::String(s.clone())
            }
        }
        Y::Sequence(s) => s.iter().any(goyaml_only),
        Y::Mapping(m) => m.iter().any(|(k, v)| goyaml_only(k) || goyaml_only(v)),
        Y::Tagged(t) => goyaml_only(&t.value),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { max_global_rejects: 1 << 20, ..ProptestConfig::with_cases(512) })]

    /// Values netfence makes are written exactly as serde_yaml_ng wrote them.
    #[test]
    fn program_values_are_written_as_serde_yaml_ng_wrote_them(v in serde_tree()) {
        prop_assume!(!goyaml_only(&v));
        let Ok(theirs) = serde_yaml_ng::to_string(&v) else { return Ok(()); };
        let ours = to_string(&from_serde(&v));
        prop_assert_eq!(ours, theirs);
    }

    /// emit(parse(x)) reads back as the same tree, and emitting is idempotent.
    #[test]
    fn emitted_text_reads_back_the_same(v in serde_tree()) {
        let Ok(text) = serde_yaml_ng::to_string(&v) else { return Ok(()); };
        let Ok(first) = from_str(&text) else { return Ok(()); };
        let out = to_string(&first);
        let second = from_str(&out).map_err(|e| TestCaseError::fail(format!("{e}\n{out}")))?;
        same(&first, &second).map_err(|e| TestCaseError::fail(format!("{e}\n{text}\n---\n{out}")))?;
        prop_assert_eq!(to_string(&second), out);
    }

    /// Any text: an error or a tree, never a panic; a tree reads back the same.
    #[test]
    fn arbitrary_text_never_panics(text in "[a-z0-9:\\-\\[\\]{}&*<>!|,.~ \t\n\"'\\\\$@%#?]{0,200}") {
        if let Ok(v) = from_str(&text) {
            let out = to_string(&v);
            let back = from_str(&out).map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}\n---\n{out}")))?;
            same(&v, &back).map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}\n---\n{out}")))?;
        }
    }
}
