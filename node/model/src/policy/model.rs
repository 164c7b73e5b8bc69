//! Compiled policy form: validated once at load so evaluation is plain struct walking.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::policy::{Action, PolicyError, View};

/// Whether a rule grants or forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Permission,
    Prohibition,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Permission => "permission",
            RuleKind::Prohibition => "prohibition",
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One loaded policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) uid: String,
    pub(crate) source_name: String,
    pub(crate) permissions: Vec<Rule>,
    pub(crate) prohibitions: Vec<Rule>,
}

impl Policy {
    /// Parses and validates a policy document. `name` is only used in error
    /// messages (usually the file name), because this module does no IO.
    pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
        crate::policy::parse::parse_policy(name, text)
    }

    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Display name the policy was loaded under.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    pub fn permissions(&self) -> &[Rule] {
        &self.permissions
    }

    pub fn prohibitions(&self) -> &[Rule] {
        &self.prohibitions
    }
}

/// A permission or prohibition with its resolved id.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub(crate) id: String,
    pub(crate) kind: RuleKind,
    pub(crate) action: Action,
    /// `Some` exactly for permissions.
    pub(crate) view: Option<View>,
    /// Implicit `and`.
    pub(crate) constraints: Vec<Constraint>,
}

impl Rule {
    /// The rule's `uid`, or `<policy uid>#p<i>` / `#x<i>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn kind(&self) -> RuleKind {
        self.kind
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// The view a permission grants; `None` for prohibitions.
    pub fn view(&self) -> Option<View> {
        self.view
    }

    pub fn constraints(&self) -> &[Constraint] {
        &self.constraints
    }
}

/// The closed set of things a constraint can talk about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeftOperand {
    PartnerId,
    PartnerGroup,
    Purpose,
    DateTime,
    ProductId,
    ProductClassification,
    DailyCount,
    Membership,
    BuysClassification,
    ShipmentCustomer,
}

/// How a left operand's right-hand side is typed and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperandKind {
    /// Exact (case-insensitive) strings.
    Text,
    /// Strings with an optional trailing `*`.
    Pattern,
    Time,
    Count,
}

impl LeftOperand {
    pub const ALL: [LeftOperand; 10] = [
        LeftOperand::PartnerId,
        LeftOperand::PartnerGroup,
        LeftOperand::Purpose,
        LeftOperand::DateTime,
        LeftOperand::ProductId,
        LeftOperand::ProductClassification,
        LeftOperand::DailyCount,
        LeftOperand::Membership,
        LeftOperand::BuysClassification,
        LeftOperand::ShipmentCustomer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeftOperand::PartnerId => "partnerId",
            LeftOperand::PartnerGroup => "partnerGroup",
            LeftOperand::Purpose => "purpose",
            LeftOperand::DateTime => "dateTime",
            LeftOperand::ProductId => "productId",
            LeftOperand::ProductClassification => "productClassification",
            LeftOperand::DailyCount => "dailyCount",
            LeftOperand::Membership => "membership",
            LeftOperand::BuysClassification => "buysClassification",
            LeftOperand::ShipmentCustomer => "shipmentCustomer",
        }
    }

    /// Exact, case-sensitive: policy terms are identifiers, and a near miss such as
    /// `PartnerGroup` should be reported rather than guessed.
    pub fn from_term(term: &str) -> Option<LeftOperand> {
        LeftOperand::ALL.into_iter().find(|l| l.as_str() == term)
    }

    pub(crate) fn kind(self) -> OperandKind {
        match self {
            LeftOperand::PartnerId
            | LeftOperand::PartnerGroup
            | LeftOperand::Purpose
            | LeftOperand::Membership
            | LeftOperand::ShipmentCustomer => OperandKind::Text,
            LeftOperand::ProductId
            | LeftOperand::ProductClassification
            | LeftOperand::BuysClassification => OperandKind::Pattern,
            LeftOperand::DateTime => OperandKind::Time,
            LeftOperand::DailyCount => OperandKind::Count,
        }
    }

    /// Operators that make sense for this operand; anything else is a load error.
    pub fn operators(self) -> &'static [Operator] {
        use Operator::*;
        match self.kind() {
            OperandKind::Text | OperandKind::Pattern => &[Eq, Neq, IsAnyOf, IsNoneOf],
            OperandKind::Time => &[Gt, Gteq, Lt, Lteq],
            OperandKind::Count => &[Eq, Neq, Gt, Gteq, Lt, Lteq],
        }
    }
}

impl fmt::Display for LeftOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ODRL operators in the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Eq,
    Neq,
    IsAnyOf,
    IsNoneOf,
    Gt,
    Gteq,
    Lt,
    Lteq,
}

impl Operator {
    pub const ALL: [Operator; 8] = [
        Operator::Eq,
        Operator::Neq,
        Operator::IsAnyOf,
        Operator::IsNoneOf,
        Operator::Gt,
        Operator::Gteq,
        Operator::Lt,
        Operator::Lteq,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Neq => "neq",
            Operator::IsAnyOf => "isAnyOf",
            Operator::IsNoneOf => "isNoneOf",
            Operator::Gt => "gt",
            Operator::Gteq => "gteq",
            Operator::Lt => "lt",
            Operator::Lteq => "lteq",
        }
    }

    pub fn from_term(term: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.as_str() == term)
    }

    /// Whether the right operand is an array.
    pub fn takes_list(self) -> bool {
        matches!(self, Operator::IsAnyOf | Operator::IsNoneOf)
    }

    /// `neq` and `isNoneOf` are the exact negations of `eq` and `isAnyOf`.
    pub(crate) fn is_negated(self) -> bool {
        matches!(self, Operator::Neq | Operator::IsNoneOf)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string to compare case-insensitively, optionally as a prefix (`text*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// Without the trailing `*`.
    pub(crate) text: String,
    pub(crate) prefix: bool,
}

impl Pattern {
    #[inline]
    pub(crate) fn matches(&self, actual: &str) -> bool {
        if self.prefix {
            actual.len() >= self.text.len()
                && actual.as_bytes()[..self.text.len()].eq_ignore_ascii_case(self.text.as_bytes())
        } else {
            actual.eq_ignore_ascii_case(&self.text)
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if self.prefix {
            f.write_str("*")?;
        }
        Ok(())
    }
}

/// Typed right operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// One element for `eq`/`neq`, at least one for `isAnyOf`/`isNoneOf`.
    Strings(Vec<Pattern>),
    Count(u64),
    Time(DateTime<Utc>),
    /// ODRL `rightOperandReference` `partnerId`: the requesting partner's company id, so one
    /// rule can say "the footprint's customer is the caller" (`eq`/`neq` only).
    PartnerRef,
}

/// `leftOperand operator rightOperand`, type-checked at load.
#[derive(Debug, Clone, PartialEq)]
pub struct Atom {
    pub(crate) left: LeftOperand,
    pub(crate) op: Operator,
    pub(crate) right: Operand,
}

impl Atom {
    pub fn left(&self) -> LeftOperand {
        self.left
    }

    pub fn operator(&self) -> Operator {
        self.op
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.left, self.op)?;
        match &self.right {
            Operand::Strings(pats) if self.op.takes_list() => {
                f.write_str("[")?;
                for (i, p) in pats.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                }
                f.write_str("]")
            }
            Operand::Strings(pats) => match pats.first() {
                Some(p) => write!(f, "{p}"),
                None => Ok(()),
            },
            Operand::Count(n) => write!(f, "{n}"),
            Operand::Time(t) => f.write_str(&fmt_time(t)),
            Operand::PartnerRef => f.write_str("@partnerId"),
        }
    }
}

pub(crate) fn fmt_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Atomic or ODRL logical constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    Atom(Atom),
    /// All must hold.
    And(Vec<Constraint>),
    /// At least one must hold.
    Or(Vec<Constraint>),
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, items) = match self {
            Constraint::Atom(a) => return write!(f, "{a}"),
            Constraint::And(items) => ("and", items),
            Constraint::Or(items) => ("or", items),
        };
        write!(f, "{name}(")?;
        for (i, c) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str(")")
    }
}
