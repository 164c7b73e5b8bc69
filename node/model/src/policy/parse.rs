//! Loader: serde visitors that validate while serde_json parses, so every error
//! carries the line and column of the offending token plus its JSON path.
//!
//! Checks run inside the visitor of the value they concern because serde_json
//! stamps an error with the reader position of the innermost `deserialize_*`
//! call that returns it; a check made later, in the enclosing map visitor, would
//! point past the value. Only whole-object checks (a missing key, mixing atomic
//! and logical constraint keys) point at the object's closing brace.

use std::cell::RefCell;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::policy::model::{
    Atom, Constraint, LeftOperand, Operand, OperandKind, Operator, Pattern, Policy, Rule, RuleKind,
};
use crate::policy::{Action, PolicyError, TARGET_FOOTPRINTS, View};

const DOC_KEYS: &[&str] = &[
    "@context",
    "@type",
    "uid",
    "target",
    "permission",
    "prohibition",
];
const PERMISSION_KEYS: &[&str] = &["uid", "action", "constraint", "view", "target"];
const PROHIBITION_KEYS: &[&str] = &["uid", "action", "constraint", "target"];
const CONSTRAINT_KEYS: &[&str] = &[
    "leftOperand",
    "operator",
    "rightOperand",
    "rightOperandReference",
    "and",
    "or",
];

pub fn parse_policy(name: &str, text: &str) -> Result<Policy, PolicyError> {
    let ctx = Ctx::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let result = DocSeed { ctx: &ctx }
        .deserialize(&mut de)
        .and_then(|p| de.end().map(|()| p));
    match result {
        Ok(mut policy) => {
            policy.source_name = name.to_owned();
            Ok(policy)
        }
        Err(e) => Err(to_policy_error(name, &e, ctx.error_path.take())),
    }
}

fn to_policy_error(name: &str, e: &serde_json::Error, path: Option<String>) -> PolicyError {
    let (line, column) = (e.line(), e.column());
    let full = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    // serde_json reports column 0 when it fails on the first byte of a line
    // (before consuming it); editors count from 1.
    let column = column.max(1);
    match e.classify() {
        serde_json::error::Category::Data => PolicyError::Invalid {
            name: name.to_owned(),
            line,
            column,
            path: path.unwrap_or_default(),
            message,
        },
        _ => PolicyError::Syntax {
            name: name.to_owned(),
            line,
            column,
            message,
        },
    }
}

/// Remembers the JSON path of the first (innermost) error; serde errors only carry text.
#[derive(Default)]
struct Ctx {
    error_path: RefCell<Option<String>>,
}

impl Ctx {
    fn note(&self, path: &str) {
        let mut slot = self.error_path.borrow_mut();
        if slot.is_none() {
            *slot = Some(path.to_owned());
        }
    }

    fn track<T, E>(&self, path: &str, r: Result<T, E>) -> Result<T, E> {
        if r.is_err() {
            self.note(path);
        }
        r
    }

    fn fail<E: de::Error>(&self, path: &str, msg: impl fmt::Display) -> E {
        self.note(path);
        E::custom(msg)
    }
}

/// JSON pointer segment escaping (RFC 6901).
fn pointer(parent: &str, segment: &str) -> String {
    format!("{parent}/{}", segment.replace('~', "~0").replace('/', "~1"))
}

// ---------------------------------------------------------------------------
// generic seeds

/// A map key from a closed list, rejecting unknown and duplicate keys at the key itself.
struct KeySeed<'a> {
    ctx: &'a Ctx,
    parent: &'a str,
    keys: &'static [&'static str],
    seen: &'a mut u32,
    what: &'static str,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        let path = pointer(self.parent, s);
        match self.keys.iter().position(|k| *k == s) {
            Some(i) if *self.seen & (1 << i) != 0 => Err(self
                .ctx
                .fail(&path, format_args!("duplicate key {s:?} in {}", self.what))),
            Some(i) => {
                *self.seen |= 1 << i;
                Ok(self.keys[i])
            }
            None => Err(self.ctx.fail(
                &path,
                format_args!(
                    "unknown key {s:?} in {}, expected one of {}",
                    self.what,
                    self.keys.join(", ")
                ),
            )),
        }
    }
}

/// A string checked by `F` inside serde_json's `deserialize_str`, so a rejection
/// points at the string.
struct StrSeed<F>(F);

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> DeserializeSeed<'de> for StrSeed<F> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for StrSeed<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        (self.0)(s).map_err(E::custom)
    }
}

// ---------------------------------------------------------------------------
// document

struct DocSeed<'a> {
    ctx: &'a Ctx,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = Policy;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Policy, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = Policy;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Policy, A::Error> {
        let ctx = self.ctx;
        let mut seen = 0;
        let mut uid = None;
        let mut permissions = Vec::new();
        let mut prohibitions = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            ctx,
            parent: "",
            keys: DOC_KEYS,
            seen: &mut seen,
            what: "policy",
        })? {
            let path = pointer("", key);
            match key {
                "@context" => {
                    ctx.track(&path, map.next_value::<IgnoredAny>())?;
                }
                "@type" => ctx.track(
                    &path,
                    map.next_value_seed(StrSeed(|s: &str| match s {
                        "Set" => Ok(()),
                        _ => Err(format!("unsupported @type {s:?}, expected \"Set\"")),
                    })),
                )?,
                "uid" => uid = Some(ctx.track(&path, map.next_value_seed(StrSeed(policy_uid)))?),
                "target" => ctx.track(&path, map.next_value_seed(StrSeed(target)))?,
                "permission" | "prohibition" => {
                    let kind = if key == "permission" {
                        RuleKind::Permission
                    } else {
                        RuleKind::Prohibition
                    };
                    let rules = ctx.track(
                        &path,
                        map.next_value_seed(RulesSeed {
                            ctx,
                            kind,
                            path: &path,
                        }),
                    )?;
                    match kind {
                        RuleKind::Permission => permissions = rules,
                        RuleKind::Prohibition => prohibitions = rules,
                    }
                }
                _ => unreachable!("key {key} is in DOC_KEYS"),
            }
        }
        let uid: String = uid.ok_or_else(|| ctx.fail("", "missing \"uid\" in policy"))?;
        if permissions.is_empty() && prohibitions.is_empty() {
            return Err(ctx.fail(
                "",
                "policy has no rules, expected at least one permission or prohibition",
            ));
        }
        let mut ids: Vec<(String, String)> = Vec::new();
        for (rules, tag) in [(&mut permissions, "p"), (&mut prohibitions, "x")] {
            for (i, rule) in rules.iter_mut().enumerate() {
                if rule.id.is_empty() {
                    rule.id = format!("{uid}#{tag}{i}");
                }
                let path = format!("/{}/{i}/uid", rule.kind.as_str());
                if ids.iter().any(|(id, _)| *id == rule.id) {
                    return Err(ctx.fail(&path, format_args!("duplicate rule id {:?}", rule.id)));
                }
                ids.push((rule.id.clone(), path));
            }
        }
        Ok(Policy {
            uid,
            source_name: String::new(),
            permissions,
            prohibitions,
        })
    }
}

fn policy_uid(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("uid must not be empty".into())
    } else if s.chars().any(|c| c.is_whitespace() || c == '#') {
        Err(format!(
            "policy uid {s:?} must not contain whitespace or \"#\""
        ))
    } else {
        Ok(s.to_owned())
    }
}

fn rule_uid(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("uid must not be empty".into())
    } else if s.chars().any(char::is_whitespace) {
        Err(format!("rule uid {s:?} must not contain whitespace"))
    } else {
        Ok(s.to_owned())
    }
}

fn target(s: &str) -> Result<(), String> {
    if s == TARGET_FOOTPRINTS {
        Ok(())
    } else {
        Err(format!(
            "unsupported target {s:?}, expected \"{TARGET_FOOTPRINTS}\" \
             (select products with productId / productClassification constraints)"
        ))
    }
}

// ---------------------------------------------------------------------------
// rules

struct RulesSeed<'a> {
    ctx: &'a Ctx,
    kind: RuleKind,
    path: &'a str,
}

impl<'de> DeserializeSeed<'de> for RulesSeed<'_> {
    type Value = Vec<Rule>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Rule>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RulesSeed<'_> {
    type Value = Vec<Rule>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {} rules", self.kind)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Rule>, A::Error> {
        let mut rules = Vec::new();
        loop {
            let path = format!("{}/{}", self.path, rules.len());
            let seed = RuleSeed {
                ctx: self.ctx,
                kind: self.kind,
                path: &path,
            };
            match self.ctx.track(&path, seq.next_element_seed(seed))? {
                Some(rule) => rules.push(rule),
                None => return Ok(rules),
            }
        }
    }
}

struct RuleSeed<'a> {
    ctx: &'a Ctx,
    kind: RuleKind,
    path: &'a str,
}

impl<'de> DeserializeSeed<'de> for RuleSeed<'_> {
    type Value = Rule;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Rule, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RuleSeed<'_> {
    type Value = Rule;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} object", self.kind)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rule, A::Error> {
        let ctx = self.ctx;
        let keys = match self.kind {
            RuleKind::Permission => PERMISSION_KEYS,
            RuleKind::Prohibition => PROHIBITION_KEYS,
        };
        let mut seen = 0;
        let mut id = String::new();
        let mut action = None;
        let mut view = None;
        let mut constraints = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            ctx,
            parent: self.path,
            keys,
            seen: &mut seen,
            what: self.kind.as_str(),
        })? {
            let path = pointer(self.path, key);
            match key {
                "uid" => id = ctx.track(&path, map.next_value_seed(StrSeed(rule_uid)))?,
                "action" => {
                    action = Some(ctx.track(&path, map.next_value_seed(StrSeed(parse_action)))?)
                }
                "view" => view = Some(ctx.track(&path, map.next_value_seed(StrSeed(parse_view)))?),
                "target" => ctx.track(&path, map.next_value_seed(StrSeed(target)))?,
                "constraint" => {
                    constraints = ctx.track(
                        &path,
                        map.next_value_seed(ConstraintsSeed {
                            ctx,
                            path: &path,
                            logical: None,
                        }),
                    )?
                }
                _ => unreachable!("key {key} is in the rule keys"),
            }
        }
        let action = action.ok_or_else(|| {
            ctx.fail(
                self.path,
                format_args!(
                    "missing \"action\" in {}, expected one of read, request, subscribe, use",
                    self.kind
                ),
            )
        })?;
        if self.kind == RuleKind::Permission && view.is_none() {
            return Err(ctx.fail(
                self.path,
                "missing \"view\" in permission, expected \"full\" or \"summary\"",
            ));
        }
        Ok(Rule {
            id,
            kind: self.kind,
            action,
            view,
            constraints,
        })
    }
}

fn parse_action(s: &str) -> Result<Action, String> {
    match s {
        "read" => Ok(Action::Read),
        "request" => Ok(Action::Request),
        "subscribe" => Ok(Action::Subscribe),
        "use" => Ok(Action::Use),
        _ => Err(format!(
            "unknown action {s:?}, expected one of read, request, subscribe, use"
        )),
    }
}

fn parse_view(s: &str) -> Result<View, String> {
    match s {
        "full" => Ok(View::Full),
        "summary" => Ok(View::Summary),
        _ => Err(format!(
            "unknown view {s:?}, expected \"full\" or \"summary\""
        )),
    }
}

// ---------------------------------------------------------------------------
// constraints

/// An array of constraints: a rule's `constraint` (may be empty) or the operand
/// list of a logical constraint (`logical` names it; must not be empty).
struct ConstraintsSeed<'a> {
    ctx: &'a Ctx,
    path: &'a str,
    logical: Option<&'static str>,
}

impl<'de> DeserializeSeed<'de> for ConstraintsSeed<'_> {
    type Value = Vec<Constraint>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ConstraintsSeed<'_> {
    type Value = Vec<Constraint>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of constraints")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let path = format!("{}/{}", self.path, out.len());
            let seed = ConstraintSeed {
                ctx: self.ctx,
                path: &path,
            };
            match self.ctx.track(&path, seq.next_element_seed(seed))? {
                Some(c) => out.push(c),
                None => break,
            }
        }
        if let (Some(name), true) = (self.logical, out.is_empty()) {
            return Err(self.ctx.fail(
                self.path,
                format_args!("\"{name}\" needs at least one constraint"),
            ));
        }
        Ok(out)
    }
}

struct ConstraintSeed<'a> {
    ctx: &'a Ctx,
    path: &'a str,
}

impl<'de> DeserializeSeed<'de> for ConstraintSeed<'_> {
    type Value = Constraint;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Constraint, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ConstraintSeed<'_> {
    type Value = Constraint;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a constraint object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Constraint, A::Error> {
        let ctx = self.ctx;
        let mut seen = 0;
        let mut left: Option<LeftOperand> = None;
        let mut op: Option<Operator> = None;
        let mut right: Option<Operand> = None;
        // A rightOperand written before its leftOperand/operator is typed at the end.
        let mut raw_right: Option<Value> = None;
        let mut reference = false;
        let mut logical: Vec<Constraint> = Vec::new();
        let mut logical_keys: Vec<&'static str> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            ctx,
            parent: self.path,
            keys: CONSTRAINT_KEYS,
            seen: &mut seen,
            what: "constraint",
        })? {
            let path = pointer(self.path, key);
            match key {
                "leftOperand" => {
                    let seed = StrSeed(|s: &str| {
                        let l = parse_left(s)?;
                        op.map_or(Ok(()), |o| check_operator(l, o))?;
                        Ok(l)
                    });
                    left = Some(ctx.track(&path, map.next_value_seed(seed))?);
                }
                "operator" => {
                    let seed = StrSeed(|s: &str| {
                        let o = parse_operator(s)?;
                        left.map_or(Ok(()), |l| check_operator(l, o))?;
                        Ok(o)
                    });
                    op = Some(ctx.track(&path, map.next_value_seed(seed))?);
                }
                "rightOperand" => match (left, op) {
                    (Some(left), Some(op)) => {
                        let seed = RightSeed { left, op };
                        right = Some(ctx.track(&path, map.next_value_seed(seed))?);
                    }
                    _ => raw_right = Some(ctx.track(&path, map.next_value::<Value>())?),
                },
                "rightOperandReference" => {
                    let seed = StrSeed(|s: &str| {
                        if s == "partnerId" {
                            Ok(())
                        } else {
                            Err(format!(
                                "unknown rightOperandReference {s:?}, expected \"partnerId\" \
                                 (the requesting partner's company id)"
                            ))
                        }
                    });
                    ctx.track(&path, map.next_value_seed(seed))?;
                    reference = true;
                }
                "and" | "or" => {
                    let seed = ConstraintsSeed {
                        ctx,
                        path: &path,
                        logical: Some(key),
                    };
                    logical = ctx.track(&path, map.next_value_seed(seed))?;
                    logical_keys.push(key);
                }
                _ => unreachable!("key {key} is in CONSTRAINT_KEYS"),
            }
        }
        let atomic =
            left.is_some() || op.is_some() || right.is_some() || raw_right.is_some() || reference;
        match (logical_keys.as_slice(), atomic) {
            ([], _) => {}
            ([_], true) => {
                return Err(ctx.fail(
                    self.path,
                    "a constraint is either atomic (leftOperand, operator, rightOperand) \
                     or logical (and / or), not both",
                ));
            }
            (["and"], false) => return Ok(Constraint::And(logical)),
            ([_], false) => return Ok(Constraint::Or(logical)),
            _ => {
                return Err(ctx.fail(
                    self.path,
                    "a logical constraint has exactly one of \"and\" or \"or\"",
                ));
            }
        }
        let missing = |k: &str| ctx.fail(self.path, format_args!("missing {k:?} in constraint"));
        let left = left.ok_or_else(|| missing("leftOperand"))?;
        let op = op.ok_or_else(|| missing("operator"))?;
        if reference {
            if right.is_some() || raw_right.is_some() {
                return Err(ctx.fail(
                    self.path,
                    "a constraint has either \"rightOperand\" or \"rightOperandReference\", not both",
                ));
            }
            if !matches!(left.kind(), OperandKind::Text | OperandKind::Pattern)
                || !matches!(op, Operator::Eq | Operator::Neq)
            {
                return Err(ctx.fail(
                    &pointer(self.path, "rightOperandReference"),
                    format_args!(
                        "rightOperandReference partnerId compares a string operand with eq or neq, not {left} {op}"
                    ),
                ));
            }
            return Ok(Constraint::Atom(Atom {
                left,
                op,
                right: Operand::PartnerRef,
            }));
        }
        let right = match (right, raw_right) {
            (Some(r), _) => r,
            (None, Some(raw)) => compile_operand(left, op, &raw)
                .map_err(|m| ctx.fail(&pointer(self.path, "rightOperand"), m))?,
            (None, None) => return Err(missing("rightOperand")),
        };
        Ok(Constraint::Atom(Atom { left, op, right }))
    }
}

fn parse_left(s: &str) -> Result<LeftOperand, String> {
    if let Some(l) = LeftOperand::from_term(s) {
        return Ok(l);
    }
    if s == "disclosureView" {
        return Err(
            "leftOperand \"disclosureView\" is not a constraint in tanso policies, \
                    set the permission's \"view\" to \"full\" or \"summary\" instead"
                .into(),
        );
    }
    let names: Vec<&str> = LeftOperand::ALL.iter().map(|l| l.as_str()).collect();
    Err(format!(
        "unknown leftOperand {s:?}, expected one of {}",
        names.join(", ")
    ))
}

fn parse_operator(s: &str) -> Result<Operator, String> {
    Operator::from_term(s).ok_or_else(|| {
        let names: Vec<&str> = Operator::ALL.iter().map(|o| o.as_str()).collect();
        format!(
            "unknown operator {s:?}, expected one of {}",
            names.join(", ")
        )
    })
}

fn check_operator(left: LeftOperand, op: Operator) -> Result<(), String> {
    if left.operators().contains(&op) {
        return Ok(());
    }
    let kind = match left.kind() {
        OperandKind::Text | OperandKind::Pattern => "a string operand",
        OperandKind::Time => "a timestamp operand",
        OperandKind::Count => "an integer operand",
    };
    let allowed: Vec<&str> = left.operators().iter().map(|o| o.as_str()).collect();
    Err(format!(
        "operator \"{op}\" is not allowed for {left} ({kind}), expected one of {}",
        allowed.join(", ")
    ))
}

/// rightOperand typed against an already known leftOperand and operator, inside
/// serde_json's `deserialize_any` so errors point at the value.
struct RightSeed {
    left: LeftOperand,
    op: Operator,
}

impl RightSeed {
    fn finish<E: de::Error>(self, v: Value) -> Result<Operand, E> {
        compile_operand(self.left, self.op, &v).map_err(E::custom)
    }
}

impl<'de> DeserializeSeed<'de> for RightSeed {
    type Value = Operand;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Operand, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RightSeed {
    type Value = Operand;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rightOperand")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Operand, E> {
        self.finish(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Operand, E> {
        self.finish(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Operand, E> {
        self.finish(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Operand, E> {
        self.finish(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Operand, E> {
        self.finish(Value::from(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Operand, E> {
        self.finish(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Operand, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        self.finish(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Operand, A::Error> {
        let v =
            <Value as serde::Deserialize>::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.finish(v)
    }
}

/// The single place that types a rightOperand (used for both key orders).
fn compile_operand(left: LeftOperand, op: Operator, v: &Value) -> Result<Operand, String> {
    let v = unwrap_typed_literal(left, v)?;
    match left.kind() {
        OperandKind::Time => {
            let s = v.as_str().ok_or_else(|| {
                format!(
                    "dateTime needs an RFC 3339 timestamp string, got {}",
                    describe(v)
                )
            })?;
            let t = DateTime::parse_from_rfc3339(s).map_err(|e| {
                format!(
                    "dateTime needs an RFC 3339 timestamp like 2026-01-01T00:00:00Z, got {s:?} ({e})"
                )
            })?;
            Ok(Operand::Time(t.with_timezone(&Utc)))
        }
        OperandKind::Count => match v.as_u64() {
            Some(n) => Ok(Operand::Count(n)),
            None => Err(format!(
                "{left} needs a non-negative integer rightOperand, got {}",
                describe(v)
            )),
        },
        OperandKind::Text | OperandKind::Pattern if op.takes_list() => {
            let items = v
                .as_array()
                .ok_or_else(|| format!("{op} needs an array of strings, got {}", describe(v)))?;
            if items.is_empty() {
                return Err(format!("{op} needs at least one value"));
            }
            let pats = items
                .iter()
                .enumerate()
                .map(|(i, item)| pattern(left, item).map_err(|m| format!("rightOperand[{i}]: {m}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Operand::Strings(pats))
        }
        OperandKind::Text | OperandKind::Pattern => {
            if v.is_array() {
                return Err(format!(
                    "{op} needs a single string, use isAnyOf or isNoneOf for a list"
                ));
            }
            Ok(Operand::Strings(vec![pattern(left, v)?]))
        }
    }
}

/// Accepts ODRL/JSON-LD typed literals `{"@value": …, "@type": "xsd:…"}` and checks
/// that the datatype fits the operand.
fn unwrap_typed_literal(left: LeftOperand, v: &Value) -> Result<&Value, String> {
    let Value::Object(m) = v else { return Ok(v) };
    if let Some(k) = m.keys().find(|k| *k != "@value" && *k != "@type") {
        return Err(format!(
            "unknown key {k:?} in typed literal, expected \"@value\" and optional \"@type\""
        ));
    }
    let value = m
        .get("@value")
        .ok_or("an object rightOperand must be a typed literal with \"@value\"")?;
    if let Some(t) = m.get("@type") {
        let t = t.as_str().ok_or("\"@type\" must be a string")?;
        let local = t
            .strip_prefix("xsd:")
            .or_else(|| t.strip_prefix("http://www.w3.org/2001/XMLSchema#"));
        let allowed: &[&str] = match left.kind() {
            OperandKind::Time => &["dateTime", "dateTimeStamp"],
            OperandKind::Count => &["integer", "nonNegativeInteger", "int", "long"],
            OperandKind::Text | OperandKind::Pattern => &["string", "anyURI"],
        };
        if !local.is_some_and(|l| allowed.contains(&l)) {
            return Err(format!(
                "\"@type\" {t:?} does not fit {left}, expected one of xsd:{}",
                allowed.join(", xsd:")
            ));
        }
    }
    Ok(value)
}

fn pattern(left: LeftOperand, v: &Value) -> Result<Pattern, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{left} needs a string, got {}", describe(v)))?;
    if s.is_empty() {
        return Err(format!("{left} needs a non-empty string"));
    }
    if left.kind() != OperandKind::Pattern && s.contains('*') {
        return Err(format!(
            "wildcard \"*\" in {s:?} is only supported for productId, productClassification \
             and buysClassification"
        ));
    }
    let (text, prefix) = match s.strip_suffix('*') {
        Some(head) => (head, true),
        None => (s, false),
    };
    if text.contains('*') {
        return Err(format!(
            "\"*\" is only allowed at the end of a pattern, got {s:?}"
        ));
    }
    Ok(Pattern {
        text: text.to_owned(),
        prefix,
    })
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
