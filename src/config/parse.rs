//! Stage 1: TOML text → [`FileConfig`], reporting every syntax and schema
//! error at once.
//!
//! The text is parsed with error recovery (all syntax errors, plus a spanned
//! tree of what could be read). The top level is walked by hand, and each
//! `[global]`, `[[listener]]` and `[[pool]]` is deserialized on its own, so
//! one bad listener does not hide the errors in the next. Within one
//! element, each serde error (unknown key, wrong type) is recorded, the
//! offending key is removed from a copy of the tree and deserialization is
//! retried, so every bad key in the element is reported too. Removed keys
//! are remembered ([`Removed`]) so the validator does not also call them
//! missing.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

use super::diagnostic::Reporter;
use super::file::{self, FileConfig, keys};
use super::suggest::{did_you_mean, list};
use super::syntax;

/// What the parse stage hands to validation.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) file: FileConfig,
    /// Keys dropped because they were wrong; not to be reported as missing.
    pub(crate) removed: Removed,
    /// The file had syntax errors, or a whole section was dropped (`[pool]`
    /// for `[[pool]]`): the tree is a best-effort recovery, so checks that
    /// could be misled by what is missing are skipped.
    pub(crate) partial: bool,
}

/// Keys removed from a table (identified by its span) after an error.
#[derive(Debug, Default)]
pub(crate) struct Removed(HashMap<(usize, usize), Vec<String>>);

impl Removed {
    fn insert(&mut self, table: Range<usize>, key: &str) {
        self.0
            .entry((table.start, table.end))
            .or_default()
            .push(key.to_string());
    }

    /// Whether one of `keys` was removed from the table spanning `table`,
    /// or a misspelling of one of them was (`nam` for `name`).
    pub(crate) fn covers(&self, table: &Range<usize>, keys: &[&str]) -> bool {
        if keys == [ITEM] {
            return self
                .0
                .get(&(table.start, table.end))
                .is_some_and(|r| r.iter().any(|k| k == ITEM));
        }
        self.0
            .get(&(table.start, table.end))
            .is_some_and(|removed| {
                removed
                    .iter()
                    .any(|r| keys.contains(&r.as_str()) || did_you_mean(r, keys).is_some())
            })
    }
}

/// What [`Removed`] records for an item removed from an array (no key is
/// spelled like it).
pub(crate) const ITEM: &str = "[item]";

/// How many errors one element may produce before we give up on it.
const MAX_ATTEMPTS: usize = 200;

/// Parses `rep`'s text; every problem found is added to `rep`.
pub(crate) fn parse(rep: &mut Reporter<'_>) -> Parsed {
    let text = rep.map.text();
    let (root, errors) = DeTable::parse_recoverable(text);
    let mut parsed = Parsed {
        partial: !errors.iter().all(|e| syntax::leaves_tree_whole(text, e)),
        ..Parsed::default()
    };
    syntax::report(rep, &root, &errors);

    for (key, value) in root.into_inner() {
        let key_span = key.span();
        let name = key.into_inner();
        match name.as_ref() {
            "global" => {
                if value.get_ref().is_table() {
                    parsed.file.global = element(rep, &mut parsed.removed, Section::Global, value);
                } else {
                    rep.error(
                        value.span(),
                        format!("`global` must be a table, not {}", article_type(&value)),
                        "write one [global] section (single brackets) with its keys below it",
                    );
                }
            }
            "engine" => {
                if value.get_ref().is_table() {
                    parsed.file.engine = element(rep, &mut parsed.removed, Section::Engine, value);
                } else {
                    rep.error(
                        value.span(),
                        format!("`engine` must be a table, not {}", article_type(&value)),
                        "write one [engine] section (single brackets) with its keys below it",
                    );
                    parsed.partial = true;
                }
            }
            "vip" => {
                let DeValue::Array(items) = value.get_ref() else {
                    rep.error(
                        value.span(),
                        format!(
                            "`vip` must be an array of tables, not {}",
                            article_type(&value)
                        ),
                        "write each vip as its own [[vip]] section (double brackets)",
                    );
                    parsed.partial = true;
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    if !item.get_ref().is_table() {
                        rep.error(
                            item.span(),
                            format!("vip #{} must be a table, not {}", i + 1, article_type(item)),
                            "write each vip as its own [[vip]] section (double brackets)",
                        );
                        parsed.partial = true;
                        parsed.partial = true;
                        continue;
                    }
                    let v = element(rep, &mut parsed.removed, Section::Vip(i), item.clone());
                    parsed.file.vips.extend(v);
                }
            }
            section @ ("listener" | "pool") => {
                let is_listener = section == "listener";
                let DeValue::Array(items) = value.get_ref() else {
                    let orphan_routes = is_listener
                        && value
                            .get_ref()
                            .as_table()
                            .is_some_and(|t| t.contains_key("route"));
                    rep.error(
                        value.span(),
                        format!(
                            "`{section}` must be an array of tables, not {}",
                            article_type(&value)
                        ),
                        if orphan_routes {
                            "a [[listener.route]] section belongs to the [[listener]] above it: \
                             add a [[listener]] section (name, address) before it"
                                .to_string()
                        } else {
                            format!("write each {section} as its own [[{section}]] section (double brackets)")
                        },
                    );
                    parsed.partial = true;
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    if !item.get_ref().is_table() {
                        rep.error(
                            item.span(),
                            format!("{section} #{} must be a table, not {}", i + 1, article_type(item)),
                            format!("write each {section} as its own [[{section}]] section (double brackets)"),
                        );
                        parsed.partial = true;
                        parsed.partial = true;
                        continue;
                    }
                    let removed = &mut parsed.removed;
                    if is_listener {
                        let l = element(rep, removed, Section::Listener(i), item.clone());
                        parsed.file.listeners.extend(l);
                    } else {
                        let p = element(rep, removed, Section::Pool(i), item.clone());
                        parsed.file.pools.extend(p);
                    }
                }
            }
            other => unknown_top_level(rep, key_span, other),
        }
    }
    parsed
}

fn unknown_top_level(rep: &mut Reporter<'_>, span: Range<usize>, key: &str) {
    let header = |k: &str| match k {
        "global" => "[global]",
        "listener" => "[[listener]]",
        "engine" => "[engine]",
        "vip" => "[[vip]]",
        _ => "[[pool]]",
    };
    let help = if let Some(s) = did_you_mean(key, keys::TOP) {
        format!("did you mean {}?", header(s))
    } else if let Some((home, _)) = [
        ("global", keys::GLOBAL),
        ("listener", keys::LISTENER),
        ("pool", keys::POOL),
        ("engine", super::vip_file::keys::ENGINE),
        ("vip", super::vip_file::keys::VIP),
    ]
    .into_iter()
    .find(|(_, ks)| ks.contains(&key))
    {
        format!(
            "`{key}` belongs in a section: put it below a {} line",
            header(home)
        )
    } else {
        "the top level has only [global], [[listener]], [[pool]], [engine] and [[vip]] sections"
            .to_string()
    };
    rep.error(span, format!("unknown top-level key `{key}`"), help);
}

/// Which section an element belongs to.
#[derive(Debug, Clone, Copy)]
enum Section {
    Global,
    Listener(usize),
    Pool(usize),
    Engine,
    Vip(usize),
}

/// A step from a value to one of its children.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Deserializes one element, reporting every bad key in it.
fn element<T: DeserializeOwned>(
    rep: &mut Reporter<'_>,
    removed: &mut Removed,
    section: Section,
    mut value: Spanned<DeValue<'_>>,
) -> Option<Spanned<T>> {
    // Errors are described in the element as written: removing a bad array
    // item shifts the later ones, whose numbers would then be off by one.
    let original = value.clone();
    // An array where a table belongs: serde would read it as the table's
    // fields in order (taking `["10.0.0.1:80", 2]` for an endpoint, or
    // reporting on its items). Each is reported, and dropped, whole.
    let misplaced = misplaced_arrays(&value);
    for path in &misplaced {
        if let Some(v) = path.iter().try_fold(&original, |v, seg| child(v, seg)) {
            let raw = "invalid type: sequence, expected a table";
            schema_error(rep, section, &original, Some(path), v.span(), raw);
        }
    }
    for path in misplaced.iter().rev() {
        remove(&mut value, path, removed);
    }
    for _ in 0..MAX_ATTEMPTS {
        let err = match Spanned::<T>::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let span = err.span().unwrap_or_else(|| value.span());
        let path = locate(&value, &span);
        let shown = locate(&original, &span);
        schema_error(
            rep,
            section,
            &original,
            shown.as_deref(),
            span,
            err.message(),
        );
        match path {
            Some(path) if !path.is_empty() && remove(&mut value, &path, removed) => {}
            _ => return None,
        }
    }
    rep.error(
        value.span(),
        format!(
            "more than {MAX_ATTEMPTS} errors in this section: the rest of it is not checked, \
             and errors that follow from it being left out may appear below"
        ),
        "fix the errors above and run check again",
    );
    None
}

/// The arrays in `root` where a table belongs, in order: array items that
/// are arrays themselves (no key takes an array of arrays), and a `tls`
/// that is an array (the one key in a section that takes a table).
fn misplaced_arrays(root: &Spanned<DeValue<'_>>) -> Vec<Vec<Seg>> {
    fn visit(v: &Spanned<DeValue<'_>>, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        let is_array = |v: &Spanned<DeValue<'_>>| matches!(v.get_ref(), DeValue::Array(_));
        match v.get_ref() {
            DeValue::Table(t) => {
                for (k, c) in t.iter() {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    if k.get_ref() == "tls" && is_array(c) {
                        out.push(path.clone());
                    } else {
                        visit(c, path, out);
                    }
                    path.pop();
                }
            }
            DeValue::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if is_array(c) {
                        out.push(path.clone());
                    } else {
                        visit(c, path, out);
                    }
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    visit(root, &mut Vec::new(), &mut out);
    out
}

/// Finds the entry an error span points at: a key, else the deepest value
/// with exactly that span, else the deepest value containing it.
fn locate(root: &Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<Vec<Seg>> {
    #[derive(Default)]
    struct Found {
        key: Option<Vec<Seg>>,
        exact: Option<Vec<Seg>>,
        within: Option<Vec<Seg>>,
    }
    fn deeper(slot: &mut Option<Vec<Seg>>, path: &[Seg]) {
        if slot.as_ref().is_none_or(|p| p.len() < path.len()) {
            *slot = Some(path.to_vec());
        }
    }
    fn visit(v: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<Seg>, f: &mut Found) {
        let vs = v.span();
        if !path.is_empty() {
            if vs == *span {
                deeper(&mut f.exact, path);
            } else if vs.start <= span.start && span.end <= vs.end {
                deeper(&mut f.within, path);
            }
        }
        match v.get_ref() {
            DeValue::Table(t) => {
                for (k, child) in t.iter() {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    if k.span() == *span && f.key.is_none() {
                        f.key = Some(path.clone());
                    }
                    visit(child, span, path, f);
                    path.pop();
                }
            }
            DeValue::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    visit(child, span, path, f);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut found = Found::default();
    visit(root, span, &mut Vec::new(), &mut found);
    found.key.or(found.exact).or(found.within)
}

fn child<'v, 'i>(v: &'v Spanned<DeValue<'i>>, seg: &Seg) -> Option<&'v Spanned<DeValue<'i>>> {
    match (v.get_ref(), seg) {
        (DeValue::Table(t), Seg::Key(k)) => t.get(k.as_str()),
        (DeValue::Array(a), Seg::Index(i)) => a.get(*i),
        _ => None,
    }
}

/// Removes the entry at `path`; remembers removed keys.
fn remove(root: &mut Spanned<DeValue<'_>>, path: &[Seg], removed: &mut Removed) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = root;
    for seg in parents {
        let next = match (cur.get_mut(), seg) {
            (DeValue::Table(t), Seg::Key(k)) => t.get_mut(k.as_str()),
            (DeValue::Array(a), Seg::Index(i)) => a.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else { return false };
        cur = next;
    }
    let span = cur.span();
    match (cur.get_mut(), last) {
        (DeValue::Table(t), Seg::Key(k)) => {
            let found = t.remove(k.as_str()).is_some();
            if found {
                removed.insert(span, k);
            }
            found
        }
        (DeValue::Array(a), Seg::Index(i)) if *i < a.len() => {
            removed.insert(span, ITEM);
            let mut kept = DeArray::new();
            for (j, item) in a.iter().enumerate() {
                if j != *i {
                    kept.push(item.clone());
                }
            }
            *a = kept;
            true
        }
        _ => false,
    }
}

/// The `name` string of a table value, if it has one.
fn name_of<'v>(v: &'v Spanned<DeValue<'_>>) -> Option<&'v str> {
    v.get_ref().as_table()?.get("name")?.get_ref().as_str()
}

pub(crate) fn listener_desc(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) => format!("listener {n:?}"),
        None => format!("listener #{}", index + 1),
    }
}

pub(crate) fn pool_desc(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) => format!("pool {n:?}"),
        None => format!("pool #{}", index + 1),
    }
}

pub(crate) fn route_desc(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) => format!("route {n:?}"),
        None => format!("route #{}", index + 1),
    }
}

/// The kind of table a path leads to, for key lists and hints.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Global,
    Listener,
    Route,
    Condition,
    Split,
    Pool,
    Endpoint,
    Other,
}

/// Describes the table at `path` in words (`route "api" in listener "web"`).
fn describe(section: Section, root: &Spanned<DeValue<'_>>, path: &[Seg]) -> (String, Kind) {
    let (mut desc, mut kind) = match section {
        Section::Global => ("[global]".to_string(), Kind::Global),
        Section::Listener(i) => (listener_desc(name_of(root), i), Kind::Listener),
        Section::Pool(i) => (pool_desc(name_of(root), i), Kind::Pool),
        Section::Engine => ("[engine]".to_string(), Kind::Other),
        Section::Vip(i) => (
            match name_of(root) {
                Some(n) => format!("vip {n:?}"),
                None => format!("vip #{}", i + 1),
            },
            Kind::Other,
        ),
    };
    let mut cur = Some(root);
    let mut i = 0;
    while i < path.len() {
        if let (Seg::Key(k), Some(Seg::Index(j))) = (&path[i], path.get(i + 1)) {
            let item = cur
                .and_then(|c| child(c, &path[i]))
                .and_then(|c| child(c, &path[i + 1]));
            let n = j + 1;
            (desc, kind) = match k.as_str() {
                "route" => (
                    format!("{} in {desc}", route_desc(item.and_then(name_of), *j)),
                    Kind::Route,
                ),
                "headers" => (format!("header condition #{n} in {desc}"), Kind::Condition),
                "cookies" => (format!("cookie condition #{n} in {desc}"), Kind::Condition),
                "query" => (format!("query condition #{n} in {desc}"), Kind::Condition),
                "split" => (format!("split entry #{n} in {desc}"), Kind::Split),
                "sni" => (format!("sni route #{n} in {desc}"), Kind::Other),
                "certificates" => (format!("certificate #{n} in {desc}"), Kind::Other),
                "endpoints" => (format!("endpoint #{n} in {desc}"), Kind::Endpoint),
                "backends" => (format!("backend #{n} of {desc}"), Kind::Other),
                _ => (format!("`{k}` item #{n} in {desc}"), Kind::Other),
            };
            cur = item;
            i += 2;
        } else {
            desc = match &path[i] {
                Seg::Key(k) => format!("`{k}` in {desc}"),
                Seg::Index(j) => format!("item #{} in {desc}", j + 1),
            };
            kind = Kind::Other;
            cur = cur.and_then(|c| child(c, &path[i]));
            i += 1;
        }
    }
    (desc, kind)
}

/// "a table", "an integer", ... for messages.
fn article_type(v: &Spanned<DeValue<'_>>) -> &'static str {
    match v.get_ref() {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// "integer `5`", "string \"x\"", "a table" for "found ..." messages.
fn found(v: &Spanned<DeValue<'_>>) -> String {
    let short = |s: String| {
        if s.chars().count() > 40 {
            format!("{}…", s.chars().take(40).collect::<String>())
        } else {
            s
        }
    };
    match v.get_ref() {
        DeValue::String(s) => format!("string {:?}", short(s.to_string())),
        DeValue::Integer(n) => format!("integer `{}`", short(n.to_string())),
        DeValue::Float(f) => format!("float `{}`", short(f.to_string())),
        DeValue::Boolean(b) => format!("boolean `{b}`"),
        DeValue::Datetime(d) => format!("datetime `{d}`"),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

/// serde's "expected ..." in TOML words.
fn expected_words(expected: &str) -> String {
    match expected {
        "i64" | "u64" | "u32" | "usize" => "an integer".to_string(),
        "a boolean" => "a boolean (true or false)".to_string(),
        "a sequence" => "an array".to_string(),
        e if e.starts_with("struct ") => "a table".to_string(),
        e => e.to_string(),
    }
}

/// Parses serde's `unknown field `x`, expected one of `a`, `b``.
pub(crate) fn parse_unknown_field(raw: &str) -> Option<(String, Vec<String>)> {
    let rest = raw.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let expected = if rest == ", there are no fields" {
        Vec::new()
    } else {
        let list = rest
            .strip_prefix(", expected one of ")
            .or_else(|| rest.strip_prefix(", expected "))?;
        list.replace(" or ", ", ")
            .split(", ")
            .map(|s| {
                let key = s.strip_prefix('`')?.strip_suffix('`')?;
                (!key.contains('`')).then(|| key.to_string())
            })
            .collect::<Option<Vec<_>>>()?
    };
    Some((name.to_string(), expected))
}

/// Reports one serde error inside an element in the user's terms.
fn schema_error(
    rep: &mut Reporter<'_>,
    section: Section,
    root: &Spanned<DeValue<'_>>,
    path: Option<&[Seg]>,
    span: Range<usize>,
    raw: &str,
) {
    let path = path.unwrap_or(&[]);
    if let (Some((name, expected)), Some((Seg::Key(_), table_path))) =
        (parse_unknown_field(raw), path.split_last())
    {
        let (ctx, kind) = describe(section, root, table_path);
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        let help = unknown_key_help(&name, &expected, kind);
        rep.error(span, format!("unknown key `{name}` in {ctx}"), help);
        return;
    }
    // The key the value belongs to, and which item of it when in an array.
    let key_at = path.iter().enumerate().rev().find_map(|(i, s)| match s {
        Seg::Key(key) => Some((i, key)),
        Seg::Index(_) => None,
    });
    let (what, ctx, key) = match key_at {
        Some((k, key)) => {
            let items: Vec<String> = path[k + 1..]
                .iter()
                .map(|s| match s {
                    Seg::Index(i) => format!(" item #{}", i + 1),
                    Seg::Key(k) => format!(".{k}"),
                })
                .collect();
            let (ctx, _) = describe(section, root, &path[..k]);
            (
                format!("`{key}`{}", items.concat()),
                ctx,
                Some(key.as_str()),
            )
        }
        None => {
            let (ctx, _) = describe(section, root, &[]);
            (String::new(), ctx, None)
        }
    };
    let value = path.iter().try_fold(root, |v, seg| child(v, seg));
    let example = key.and_then(file::example);
    if let (Some(rest), Some(value)) = (raw.strip_prefix("invalid type: "), value)
        && let Some((_, expected)) = rest.rsplit_once(", expected ")
    {
        let expected = expected_words(expected);
        let message = if let DeValue::Integer(n) = value.get_ref()
            && expected == "an integer"
        {
            format!("{what} in {ctx} is out of range: {n} does not fit in 64 bits")
        } else if what.is_empty() {
            format!(
                "wrong type for {ctx}: expected {expected}, found {}",
                found(value)
            )
        } else {
            format!(
                "wrong type for {what} in {ctx}: expected {expected}, found {}",
                found(value)
            )
        };
        let help = match example {
            Some(ex) => format!("write it like: {ex}"),
            None => format!("use {expected} here"),
        };
        rep.error(span, message, help);
        return;
    }
    let message = if what.is_empty() {
        format!("{raw} in {ctx}")
    } else {
        format!("invalid {what} in {ctx}: {raw}")
    };
    let help = match example {
        Some(ex) => format!("write it like: {ex}"),
        None => "check this value against the documented schema (src/config/file.rs)".to_string(),
    };
    rep.error(span, message, help);
}

fn unknown_key_help(name: &str, expected: &[&str], kind: Kind) -> String {
    if let Some(s) = did_you_mean(name, expected) {
        return format!("did you mean `{s}`?");
    }
    let elsewhere = match kind {
        Kind::Listener if keys::ROUTE.contains(&name) => Some(format!(
            "`{name}` is a route setting: put it in a [[listener.route]] section below this listener"
        )),
        Kind::Listener if keys::SNI.contains(&name) => Some(format!(
            "`{name}` is an SNI route setting: put it in a [[listener.sni]] section below this \
             listener (protocol = \"tcp\")"
        )),
        Kind::Route if keys::LISTENER.contains(&name) => Some(format!(
            "`{name}` is a listener setting, but keys after a [[listener.route]] header belong to \
             that route: move it above the listener's first [[listener.route]]"
        )),
        Kind::Route | Kind::Listener if keys::POOL.contains(&name) => Some(format!(
            "`{name}` is a pool setting: put it in a [[pool]] section and refer to the pool with \
             pool = \"NAME\""
        )),
        _ => None,
    };
    if let Some(help) = elsewhere {
        return help;
    }
    if expected.is_empty() {
        "this table takes no keys; remove it".to_string()
    } else {
        format!("valid keys here: {}", list(expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_message_is_parsed() {
        let raw = "unknown field `adress`, expected one of `name`, `address`, `protocol`";
        let (name, expected) = parse_unknown_field(raw).unwrap();
        assert_eq!(name, "adress");
        assert_eq!(expected, ["name", "address", "protocol"]);
        let (name, expected) = parse_unknown_field("unknown field `x`, expected `weight`").unwrap();
        assert_eq!((name.as_str(), expected), ("x", vec!["weight".to_string()]));
        let (_, expected) =
            parse_unknown_field("unknown field `x`, expected `address` or `weight`").unwrap();
        assert_eq!(expected, ["address", "weight"]);
        let (_, expected) = parse_unknown_field("unknown field `x`, there are no fields").unwrap();
        assert!(expected.is_empty());
    }

    /// The key lists used for hints match what serde accepts.
    #[test]
    fn key_lists_match_the_schema() {
        fn fields<T: DeserializeOwned>() -> Vec<String> {
            let (root, errors) = DeTable::parse_recoverable("zzz_unknown = 1");
            assert!(errors.is_empty());
            let value = Spanned::new(root.span(), DeValue::Table(root.into_inner()));
            let err = T::deserialize(ValueDeserializer::from(value))
                .err()
                .unwrap();
            parse_unknown_field(err.message()).unwrap().1
        }
        use super::super::file::{FileGlobal, FileListener, FilePool, FileRoute};
        assert_eq!(fields::<FileGlobal>(), keys::GLOBAL);
        assert_eq!(fields::<FileListener>(), keys::LISTENER);
        assert_eq!(fields::<FileRoute>(), keys::ROUTE);
        assert_eq!(fields::<FilePool>(), keys::POOL);
        assert_eq!(fields::<crate::config::file::FileSni>(), keys::SNI);
        assert_eq!(
            fields::<crate::config::file::FileListenerTls>(),
            keys::LISTENER_TLS
        );
        assert_eq!(fields::<crate::config::file::FileCert>(), keys::CERT);
        assert_eq!(fields::<crate::config::file::FilePoolTls>(), keys::POOL_TLS);
        use super::super::vip_file::{FileEngine, FileVip, keys as vip_keys};
        assert_eq!(fields::<FileEngine>(), vip_keys::ENGINE);
        assert_eq!(fields::<FileVip>(), vip_keys::VIP);
    }

    #[test]
    fn unexpected_formats_fall_back() {
        assert_eq!(parse_unknown_field("invalid type: integer `5`"), None);
        assert_eq!(parse_unknown_field("unknown field `x` somewhere"), None);
        assert_eq!(parse_unknown_field("unknown field `x, expected `a`"), None);
        assert_eq!(
            parse_unknown_field("unknown field `x`, expected one of a, b"),
            None
        );
    }

    #[test]
    fn unknown_key_help_falls_back_to_the_key_list() {
        assert_eq!(
            unknown_key_help("adress", keys::LISTENER, Kind::Listener),
            "did you mean `address`?"
        );
        assert_eq!(
            unknown_key_help("colour", &["name", "weight"], Kind::Other),
            "valid keys here: `name`, `weight`"
        );
        assert_eq!(
            unknown_key_help("x", &[], Kind::Other),
            "this table takes no keys; remove it"
        );
    }
}
