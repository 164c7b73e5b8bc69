//! Usage policies: an ODRL 2.2–compatible JSON subset and its deterministic evaluator.
//!
//! Every request a partner sends to a tanso node (get or list footprints, ask for a
//! footprint to be calculated, subscribe to updates) is checked here against the
//! owner's policies. The module is synchronous and does no IO: callers hand in the
//! policy text with a display name, and the request with `now` already read from
//! the clock, so decisions are reproducible in tests and in `tanso policy explain`.
//!
//! # Policy documents
//!
//! A policy is an ODRL `Set`. Only the keys below are accepted; anything else is a
//! load error that names its line, column and JSON path.
//!
//! ```json
//! {
//!   "@context": "http://www.w3.org/ns/odrl.jsonld",
//!   "@type": "Set",
//!   "uid": "urn:tanso:policy:share-with-customers",
//!   "target": "urn:tanso:footprints",
//!   "permission": [
//!     { "uid": "optional-rule-id", "action": "use", "view": "full",
//!       "constraint": [ { "leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "customer" } ] }
//!   ],
//!   "prohibition": [ { "action": "use", "constraint": [ … ] } ]
//! }
//! ```
//!
//! | key | rule |
//! |---|---|
//! | `@context` | optional, any JSON (kept for JSON-LD tools, not interpreted) |
//! | `@type` | optional, must be `"Set"` |
//! | `uid` | required, non-empty, no whitespace and no `#` (rule ids are `uid#…`) |
//! | `target` | optional on the policy and on rules; must be `urn:tanso:footprints` (the node's own footprints). Products are selected with constraints, so a different target fails loudly instead of being silently ignored |
//! | `permission`, `prohibition` | arrays of rules; together at least one rule |
//!
//! A rule has `action` (required), `constraint` (optional array, AND-ed; empty or
//! missing means unconditional), optional `uid` and `target`, and — permissions
//! only — `view` (`"full"` or `"summary"`, required), the disclosure view it grants.
//! Obligations/duties, refinements and party collections are not supported.
//!
//! Rule ids are the rule's `uid` if given, else `<policy uid>#p<i>` for the i-th
//! permission and `<policy uid>#x<i>` for the i-th prohibition (0-based).
//!
//! ## Actions
//! `read` (get/list footprints), `request` (ask for a footprint to be calculated),
//! `subscribe` (updates), and `use`, ODRL's umbrella: a `use` rule covers all three.
//! A rule covers a request if its action is `use` or equals the requested action.
//!
//! ## Constraints
//! An atomic constraint is `{"leftOperand", "operator", "rightOperand"}`. ODRL
//! logical constraints `{"and": [...]}` and `{"or": [...]}` nest atomic or logical
//! constraints; a rule's `constraint` array is an implicit `and`.
//! `rightOperand` may also be an ODRL typed literal `{"@value": …, "@type": "xsd:…"}`.
//!
//! | leftOperand | compared with | rightOperand | operators |
//! |---|---|---|---|
//! | `partnerId` | the partner's company URN | string | eq neq isAnyOf isNoneOf |
//! | `partnerGroup` | groups the operator assigned to the partner (a set) | string | eq neq isAnyOf isNoneOf |
//! | `purpose` | the purpose the caller declares (may be absent) | string | eq neq isAnyOf isNoneOf |
//! | `membership` | associations the directory lists the partner in (a set) | string | eq neq isAnyOf isNoneOf |
//! | `buysClassification` | classifications the partner is listed as buying (a set) | pattern | eq neq isAnyOf isNoneOf |
//! | `productId` | the footprint's productIds (a set) | pattern | eq neq isAnyOf isNoneOf |
//! | `productClassification` | the footprint's productClassifications (a set) | pattern | eq neq isAnyOf isNoneOf |
//! | `dateTime` | `now` | RFC 3339 timestamp | gt gteq lt lteq |
//! | `dailyCount` | ordinal of this request in the partner's day (`requests_today + 1`) | non-negative integer | eq neq gt gteq lt lteq |
//! | `shipmentCustomer` | the shippers a shipment footprint names (a set; empty for other footprints) | string | eq neq isAnyOf isNoneOf |
//!
//! Instead of `rightOperand`, a string-valued constraint with `eq` or `neq` may give ODRL's
//! `"rightOperandReference": "partnerId"`: the value is then the requesting partner's company
//! id, so one generic rule (`shipmentCustomer eq` the partner) lets each shipper read only its
//! own shipments. No other reference is accepted, and a constraint has one of the two keys.
//!
//! - All string comparisons are ASCII case-insensitive (URNs, group names, purposes).
//! - A pattern ending in `*` is a prefix match (`urn:hs:72*`); `*` anywhere else, or
//!   in a non-pattern operand, is a load error.
//! - `eq`/`neq`/ordering operators take one value; `isAnyOf`/`isNoneOf` a non-empty array.
//! - Set-valued operands: `eq v` / `isAnyOf [..]` hold if **any** element matches;
//!   `neq` / `isNoneOf` are their exact negations (no element matches). An absent
//!   purpose matches nothing, so `purpose neq x` holds for it. Negations being exact
//!   keeps prohibitions such as "purpose neq cbam" from being dodged by leaving the
//!   purpose out.
//! - `dailyCount lteq 1000` admits exactly 1000 requests per partner per day.
//! - `dateTime gteq A` + `dateTime lt B` is the half-open window `[A, B)`.
//! - The disclosure view is the permission's `view` field; `disclosureView` as a
//!   leftOperand is rejected with a hint.
//!
//! # Decisions
//! 1. **Prohibitions win**: if any prohibition covering the action has all
//!    constraints true, the request is denied naming the first such rule in
//!    (policy uid, rule index) order.
//! 2. Otherwise the matching permission with the **broadest view** wins
//!    (`full` > `summary`); ties go to the lowest (policy uid, rule index).
//! 3. **Default deny**: no matching permission → `Deny` with reason
//!    `"no permission matches"` and no policy. An exceeded `dailyCount` cap simply
//!    makes its permission not match.
//!
//! [`PolicySet::explain`] reports, for every rule, whether it matched and otherwise
//! the first failing constraint with actual vs expected values.
//!
//! Evaluation parses nothing and allocates only the strings of the returned
//! [`Decision`]; see `examples/bench_policy.rs`.

mod eval;
mod model;
pub mod parse;

#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use eval::{Explanation, NO_PERMISSION, PolicySet, RuleOutcome, RuleTrace};
pub use model::{Atom, Constraint, LeftOperand, Operator, Policy, Rule, RuleKind};

/// The only `target` tanso accepts: the node's own footprints.
pub const TARGET_FOOTPRINTS: &str = "urn:tanso:footprints";

/// What a partner wants to do; `Use` is ODRL's umbrella and only appears in rules
/// in practice (a rule with `use` covers every action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// GetFootprint / ListFootprints.
    Read,
    /// Ask the owner to calculate a footprint.
    Request,
    /// Receive updates of a footprint.
    Subscribe,
    /// All of the above.
    Use,
}

impl Action {
    /// ODRL term as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Request => "request",
            Action::Subscribe => "subscribe",
            Action::Use => "use",
        }
    }

    /// Whether a rule with this action applies to a request for `requested`.
    pub fn covers(self, requested: Action) -> bool {
        self == Action::Use || self == requested
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much of a footprint a permission discloses. Ordered so that the broadest
/// grant wins with a plain `max`: `Summary < Full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Summary,
    Full,
}

impl View {
    /// Term as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Summary => "summary",
            View::Full => "full",
        }
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the node knows about the calling company: its id from the authenticated
/// identity, groups from the operator's partner table, memberships and purchases
/// from the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partner {
    pub company_id: String,
    pub groups: Vec<String>,
    pub memberships: Vec<String>,
    pub buys_classifications: Vec<String>,
}

/// One access to decide; borrowed so the caller can evaluate per footprint
/// without copying.
#[derive(Debug, Clone)]
pub struct AccessRequest<'a> {
    pub partner: &'a Partner,
    pub action: Action,
    /// Purpose the caller declared, if any (e.g. `scope3-reporting`, `cbam`).
    pub purpose: Option<&'a str>,
    /// Read from the clock by the caller so evaluation stays pure.
    pub now: DateTime<Utc>,
    /// The footprint's productIds.
    pub product_ids: &'a [String],
    /// The footprint's productClassifications.
    pub classifications: &'a [String],
    /// The shippers a shipment footprint is for (its shipment-parties extension,
    /// [`crate::pact::ileap::customers_of`]); empty for other footprints.
    pub customers: &'a [String],
    /// Requests already served to this partner today, not counting this one.
    pub requests_today: u32,
}

/// Outcome of [`PolicySet::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Permit {
        policy: String,
        rule: String,
        view: View,
    },
    Deny {
        /// `None` for the default deny (no permission matched).
        policy: Option<String>,
        rule: Option<String>,
        reason: String,
    },
}

impl Decision {
    /// The granted view, or `None` when denied.
    pub fn view(&self) -> Option<View> {
        match self {
            Decision::Permit { view, .. } => Some(*view),
            Decision::Deny { .. } => None,
        }
    }

    pub fn is_permit(&self) -> bool {
        matches!(self, Decision::Permit { .. })
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Permit { rule, view, .. } => write!(f, "permitted by {rule} (view {view})"),
            Decision::Deny { reason, .. } => write!(f, "denied: {reason}"),
        }
    }
}

/// A policy that failed to load. Positions are serde_json's 1-based line and
/// column of the offending token (or of the closing brace for a missing key),
/// so editors can jump to it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// Not well-formed JSON.
    #[error("{name}:{line}:{column}: {message}")]
    Syntax {
        name: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-formed JSON that is not a valid tanso policy.
    #[error("{name}:{line}:{column}: {message}{}", at_path(.path))]
    Invalid {
        name: String,
        line: usize,
        column: usize,
        /// JSON pointer of the offending value, e.g. `/permission/0/constraint/1/rightOperand`.
        path: String,
        message: String,
    },
}

fn at_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" (at {path})")
    }
}

impl PolicyError {
    pub fn line(&self) -> usize {
        match self {
            PolicyError::Syntax { line, .. } | PolicyError::Invalid { line, .. } => *line,
        }
    }

    pub fn column(&self) -> usize {
        match self {
            PolicyError::Syntax { column, .. } | PolicyError::Invalid { column, .. } => *column,
        }
    }

    /// Message without the position prefix.
    pub fn message(&self) -> &str {
        match self {
            PolicyError::Syntax { message, .. } | PolicyError::Invalid { message, .. } => message,
        }
    }

    /// JSON pointer of the offending value; empty for syntax errors and the document root.
    pub fn path(&self) -> &str {
        match self {
            PolicyError::Syntax { .. } => "",
            PolicyError::Invalid { path, .. } => path,
        }
    }
}
