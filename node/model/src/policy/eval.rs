//! Evaluation: prohibitions first, then the broadest matching permission, else default deny.
//!
//! The hot path (`evaluate`) only compares pre-typed values; `explain` re-runs the
//! same `holds` checks and formats what failed, so the two cannot disagree.

use std::fmt;

use crate::policy::model::{
    Atom, Constraint, LeftOperand, Operand, Operator, Policy, Rule, RuleKind, fmt_time,
};
use crate::policy::{AccessRequest, Action, Decision, View};

/// Reason of the default deny, kept verbatim for callers and audit logs.
pub const NO_PERMISSION: &str = "no permission matches";

/// The policies a node enforces, kept sorted by uid so decisions and
/// explanations never depend on load order.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    pub fn new() -> PolicySet {
        PolicySet::default()
    }

    /// Adds a policy, replacing (and returning) one with the same uid, so a
    /// reloaded file updates in place.
    pub fn add(&mut self, policy: Policy) -> Option<Policy> {
        match self
            .policies
            .binary_search_by(|p| p.uid.as_str().cmp(&policy.uid))
        {
            Ok(i) => Some(std::mem::replace(&mut self.policies[i], policy)),
            Err(i) => {
                self.policies.insert(i, policy);
                None
            }
        }
    }

    pub fn remove(&mut self, uid: &str) -> Option<Policy> {
        let i = self.index(uid)?;
        Some(self.policies.remove(i))
    }

    pub fn get(&self, uid: &str) -> Option<&Policy> {
        self.index(uid).map(|i| &self.policies[i])
    }

    /// Policies in evaluation order (by uid).
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    fn index(&self, uid: &str) -> Option<usize> {
        self.policies
            .binary_search_by(|p| p.uid.as_str().cmp(uid))
            .ok()
    }

    /// Decides one request. Allocates only the strings of the returned decision.
    pub fn evaluate(&self, req: &AccessRequest<'_>) -> Decision {
        match self.decide(req) {
            Decided::Prohibited(p, r) => Decision::Deny {
                policy: Some(p.uid.clone()),
                rule: Some(r.id.clone()),
                reason: format!("prohibited by {}", r.id),
            },
            Decided::Permitted(p, r, view) => Decision::Permit {
                policy: p.uid.clone(),
                rule: r.id.clone(),
                view,
            },
            Decided::Default => Decision::Deny {
                policy: None,
                rule: None,
                reason: NO_PERMISSION.to_owned(),
            },
        }
    }

    fn decide<'s>(&'s self, req: &AccessRequest<'_>) -> Decided<'s> {
        for p in &self.policies {
            for r in &p.prohibitions {
                if r.matches(req) {
                    return Decided::Prohibited(p, r);
                }
            }
        }
        let mut best: Option<(&Policy, &Rule, View)> = None;
        for p in &self.policies {
            for r in &p.permissions {
                let view = r.view.unwrap_or(View::Summary);
                // Strictly broader only: earlier (policy uid, rule index) wins ties.
                if best.is_some_and(|(_, _, b)| view <= b) || !r.matches(req) {
                    continue;
                }
                best = Some((p, r, view));
                if view == View::Full {
                    return Decided::Permitted(p, r, view);
                }
            }
        }
        match best {
            Some((p, r, view)) => Decided::Permitted(p, r, view),
            None => Decided::Default,
        }
    }

    /// The decision plus, for every rule of every policy, whether it matched and
    /// otherwise why not. Meant for `tanso policy explain` and deny diagnostics.
    pub fn explain(&self, req: &AccessRequest<'_>) -> Explanation {
        let decision = self.evaluate(req);
        let decisive = match &decision {
            Decision::Permit { rule, .. } => Some(rule.as_str()),
            Decision::Deny { rule, .. } => rule.as_deref(),
        };
        let mut rules = Vec::new();
        for p in &self.policies {
            for r in p.permissions.iter().chain(&p.prohibitions) {
                rules.push(RuleTrace {
                    policy: p.uid.clone(),
                    rule: r.id.clone(),
                    kind: r.kind,
                    view: r.view,
                    decisive: decisive == Some(r.id.as_str()),
                    outcome: r.outcome(req),
                });
            }
        }
        Explanation { decision, rules }
    }
}

enum Decided<'s> {
    Prohibited(&'s Policy, &'s Rule),
    Permitted(&'s Policy, &'s Rule, View),
    Default,
}

/// Why a request was decided the way it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub decision: Decision,
    /// Every rule in evaluation order (policy uid, then permissions, then prohibitions).
    pub rules: Vec<RuleTrace>,
}

/// One rule's verdict for the explained request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    pub policy: String,
    pub rule: String,
    pub kind: RuleKind,
    pub view: Option<View>,
    /// This rule produced the decision.
    pub decisive: bool,
    pub outcome: RuleOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    Matched,
    /// The rule's action does not cover the requested one.
    ActionNotCovered {
        rule: Action,
        requested: Action,
    },
    /// The first constraint (in rule order) that did not hold.
    ConstraintFailed {
        /// The constraint as written, e.g. `partnerGroup eq customer`.
        constraint: String,
        /// What the request had instead, e.g. `partner groups [supplier]`.
        actual: String,
    },
}

impl fmt::Display for RuleOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOutcome::Matched => f.write_str("matched"),
            RuleOutcome::ActionNotCovered { rule, requested } => {
                write!(f, "action {rule} does not cover {requested}")
            }
            RuleOutcome::ConstraintFailed { constraint, actual } => {
                write!(f, "constraint {constraint} failed: {actual}")
            }
        }
    }
}

impl fmt::Display for RuleTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule {}", self.kind, self.rule)?;
        if let Some(view) = self.view {
            write!(f, " (view {view})")?;
        }
        write!(f, ": {}", self.outcome)
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.decision)?;
        for t in &self.rules {
            let mark = if t.decisive { '*' } else { '-' };
            write!(f, "\n  {mark} {t}")?;
        }
        Ok(())
    }
}

impl Rule {
    #[inline]
    fn matches(&self, req: &AccessRequest<'_>) -> bool {
        self.action.covers(req.action) && self.constraints.iter().all(|c| c.holds(req))
    }

    fn outcome(&self, req: &AccessRequest<'_>) -> RuleOutcome {
        if !self.action.covers(req.action) {
            return RuleOutcome::ActionNotCovered {
                rule: self.action,
                requested: req.action,
            };
        }
        match self.constraints.iter().find(|c| !c.holds(req)) {
            None => RuleOutcome::Matched,
            Some(c) => RuleOutcome::ConstraintFailed {
                constraint: c.to_string(),
                actual: c.failure(req),
            },
        }
    }
}

impl Constraint {
    #[inline]
    fn holds(&self, req: &AccessRequest<'_>) -> bool {
        match self {
            Constraint::Atom(a) => a.holds(req),
            Constraint::And(cs) => cs.iter().all(|c| c.holds(req)),
            Constraint::Or(cs) => cs.iter().any(|c| c.holds(req)),
        }
    }

    /// The request's side of a failed constraint.
    fn failure(&self, req: &AccessRequest<'_>) -> String {
        match self {
            Constraint::Atom(a) => actual(a.left, req),
            Constraint::And(cs) => match cs.iter().find(|c| !c.holds(req)) {
                Some(c @ Constraint::Atom(_)) => c.failure(req),
                Some(c) => format!("{c} failed: {}", c.failure(req)),
                None => String::new(),
            },
            Constraint::Or(cs) => {
                let mut parts: Vec<String> = cs.iter().map(|c| c.failure(req)).collect();
                parts.dedup();
                parts.join("; ")
            }
        }
    }
}

impl Atom {
    #[inline]
    fn holds(&self, req: &AccessRequest<'_>) -> bool {
        match &self.right {
            Operand::Strings(pats) => {
                any_value(self.left, req, |v| pats.iter().any(|p| p.matches(v)))
                    != self.op.is_negated()
            }
            Operand::PartnerRef => {
                let id = req.partner.company_id.as_str();
                any_value(self.left, req, |v| v.eq_ignore_ascii_case(id)) != self.op.is_negated()
            }
            Operand::Count(n) => compare(u64::from(req.requests_today) + 1, *n, self.op),
            Operand::Time(t) => compare(req.now, *t, self.op),
        }
    }
}

/// Whether any of the request's values for `left` satisfies `one`.
#[inline]
fn any_value(left: LeftOperand, req: &AccessRequest<'_>, one: impl Fn(&str) -> bool) -> bool {
    let any = |vs: &[String]| vs.iter().any(|v| one(v));
    match left {
        LeftOperand::PartnerId => one(&req.partner.company_id),
        LeftOperand::PartnerGroup => any(&req.partner.groups),
        LeftOperand::Purpose => req.purpose.is_some_and(&one),
        LeftOperand::Membership => any(&req.partner.memberships),
        LeftOperand::BuysClassification => any(&req.partner.buys_classifications),
        LeftOperand::ProductId => any(req.product_ids),
        LeftOperand::ProductClassification => any(req.classifications),
        LeftOperand::ShipmentCustomer => any(req.customers),
        // Never string-typed: the loader gives these Count/Time operands.
        LeftOperand::DateTime | LeftOperand::DailyCount => false,
    }
}

#[inline]
fn compare<T: Ord>(actual: T, expected: T, op: Operator) -> bool {
    match op {
        Operator::Eq => actual == expected,
        Operator::Neq => actual != expected,
        Operator::Gt => actual > expected,
        Operator::Gteq => actual >= expected,
        Operator::Lt => actual < expected,
        Operator::Lteq => actual <= expected,
        // Rejected by the loader for ordered operands.
        Operator::IsAnyOf | Operator::IsNoneOf => false,
    }
}

fn actual(left: LeftOperand, req: &AccessRequest<'_>) -> String {
    let list = |vs: &[String]| format!("[{}]", vs.join(", "));
    match left {
        LeftOperand::PartnerId => format!("partner id {}", req.partner.company_id),
        LeftOperand::PartnerGroup => format!("partner groups {}", list(&req.partner.groups)),
        LeftOperand::Purpose => match req.purpose {
            Some(p) => format!("purpose {p}"),
            None => "no purpose declared".to_owned(),
        },
        LeftOperand::DateTime => format!("now {}", fmt_time(&req.now)),
        LeftOperand::DailyCount => format!(
            "daily count {} ({} requests already served today)",
            u64::from(req.requests_today) + 1,
            req.requests_today
        ),
        LeftOperand::Membership => {
            format!("partner memberships {}", list(&req.partner.memberships))
        }
        LeftOperand::BuysClassification => format!(
            "partner buys classifications {}",
            list(&req.partner.buys_classifications)
        ),
        LeftOperand::ProductId => format!("product ids {}", list(req.product_ids)),
        LeftOperand::ProductClassification => {
            format!("product classifications {}", list(req.classifications))
        }
        LeftOperand::ShipmentCustomer => format!(
            "shipment customers {} (partner id {})",
            list(req.customers),
            req.partner.company_id
        ),
    }
}
