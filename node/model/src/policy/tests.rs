//! Table-driven tests: every case goes through `check`, which loads the policies,
//! evaluates, cross-checks `explain` against `evaluate` and asserts the expectation.

use chrono::{DateTime, Utc};

use crate::policy::{
    AccessRequest, Action, Decision, NO_PERMISSION, Partner, Policy, PolicyError, PolicySet,
    RuleOutcome, View,
};

// POLICIES_DIR = "../../../../policies/" relative to this file (crate root = the policy
// scratch crate). In the real repo the crate is `node/`, so it becomes
// "../../../../policies/"; only `template` needs to change.
fn template(name: &str) -> &'static str {
    match name {
        "share-with-customers" => include_str!("../../../../policies/share-with-customers.json"),
        "summary-for-prospects" => include_str!("../../../../policies/summary-for-prospects.json"),
        "deny-competitors" => include_str!("../../../../policies/deny-competitors.json"),
        "cbam-importers" => include_str!("../../../../policies/cbam-importers.json"),
        "association-members" => include_str!("../../../../policies/association-members.json"),
        "steel-buyers" => include_str!("../../../../policies/steel-buyers.json"),
        "ileap-shippers" => include_str!("../../../../policies/ileap-shippers.json"),
        _ => panic!("unknown template {name}"),
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Owned request description; `check` borrows it into an `AccessRequest`.
#[derive(Debug, Clone)]
struct Req {
    partner: Partner,
    action: Action,
    purpose: Option<String>,
    now: DateTime<Utc>,
    product_ids: Vec<String>,
    classifications: Vec<String>,
    customers: Vec<String>,
    requests_today: u32,
}

impl Req {
    /// A steel product read by an unclassified partner, mid-2026, first request of the day.
    fn base() -> Req {
        Req {
            partner: Partner {
                company_id: "urn:tanso:company:acme".into(),
                ..Partner::default()
            },
            action: Action::Read,
            purpose: None,
            now: t("2026-06-01T12:00:00Z"),
            product_ids: strings(&["urn:gtin:4012345000009"]),
            classifications: strings(&["urn:hs:720851"]),
            customers: Vec::new(),
            requests_today: 0,
        }
    }
    fn id(mut self, id: &str) -> Req {
        self.partner.company_id = id.into();
        self
    }
    fn groups(mut self, g: &[&str]) -> Req {
        self.partner.groups = strings(g);
        self
    }
    fn member(mut self, m: &[&str]) -> Req {
        self.partner.memberships = strings(m);
        self
    }
    fn buys(mut self, b: &[&str]) -> Req {
        self.partner.buys_classifications = strings(b);
        self
    }
    fn purpose(mut self, p: &str) -> Req {
        self.purpose = Some(p.into());
        self
    }
    fn action(mut self, a: Action) -> Req {
        self.action = a;
        self
    }
    fn at(mut self, now: &str) -> Req {
        self.now = t(now);
        self
    }
    fn products(mut self, p: &[&str]) -> Req {
        self.product_ids = strings(p);
        self
    }
    fn classes(mut self, c: &[&str]) -> Req {
        self.classifications = strings(c);
        self
    }
    fn customers(mut self, c: &[&str]) -> Req {
        self.customers = strings(c);
        self
    }
    fn today(mut self, n: u32) -> Req {
        self.requests_today = n;
        self
    }
}

#[derive(Debug)]
enum Expect {
    /// Permitted by this rule id with this view.
    Permit(&'static str, View),
    /// Denied by this prohibition rule id.
    Prohibited(&'static str),
    /// No permission matched.
    DefaultDeny,
    /// The (single failing) source does not load: position, message part, JSON path.
    LoadError {
        line: usize,
        column: usize,
        msg: &'static str,
        path: &'static str,
    },
    /// Syntax error at a position.
    SyntaxError { line: usize, column: usize },
    /// The rendered explanation contains each line fragment.
    Explain(&'static [&'static str]),
}
use Expect::*;

type Build = fn(Req) -> Req;

fn same(r: Req) -> Req {
    r
}

/// The one helper all cases go through.
fn check(case: &str, policy_src: &[&str], build: Build, expect: Expect) {
    let loaded: Result<Vec<Policy>, PolicyError> = policy_src
        .iter()
        .map(|src| Policy::parse("policy.json", src))
        .collect();
    match expect {
        LoadError {
            line,
            column,
            msg,
            path,
        } => {
            let e = loaded.expect_err(case);
            assert!(
                matches!(e, PolicyError::Invalid { .. }),
                "{case}: not a validation error: {e}"
            );
            let text = e.to_string();
            assert_eq!((e.line(), e.column()), (line, column), "{case}: {text}");
            assert!(
                text.starts_with(&format!("policy.json:{line}:{column}: ")),
                "{case}: {text}"
            );
            assert!(text.contains(msg), "{case}: {text:?} lacks {msg:?}");
            assert_eq!(e.path(), path, "{case}: {text}");
            return;
        }
        SyntaxError { line, column } => {
            let e = loaded.expect_err(case);
            assert!(
                matches!(e, PolicyError::Syntax { .. }),
                "{case}: not a syntax error: {e}"
            );
            assert_eq!((e.line(), e.column()), (line, column), "{case}: {e}");
            return;
        }
        _ => {}
    }
    let policies = loaded.unwrap_or_else(|e| panic!("{case}: load failed: {e}"));
    let mut set = PolicySet::new();
    for p in policies {
        assert!(set.add(p).is_none(), "{case}: duplicate policy uid");
    }
    let r = build(Req::base());
    let req = AccessRequest {
        partner: &r.partner,
        action: r.action,
        purpose: r.purpose.as_deref(),
        now: r.now,
        product_ids: &r.product_ids,
        classifications: &r.classifications,
        customers: &r.customers,
        requests_today: r.requests_today,
    };
    let decision = set.evaluate(&req);
    let explanation = set.explain(&req);
    assert_eq!(explanation.decision, decision, "{case}: explain disagrees");
    // The deciding rule, if any, must be reported as matched, and only it is marked.
    for trace in &explanation.rules {
        if trace.decisive {
            assert_eq!(trace.outcome, RuleOutcome::Matched, "{case}: {explanation}");
        }
    }
    let owner = |rule: &str| -> String {
        set.policies()
            .iter()
            .find(|p| {
                p.permissions()
                    .iter()
                    .chain(p.prohibitions())
                    .any(|r| r.id() == rule)
            })
            .unwrap_or_else(|| panic!("{case}: no policy has rule {rule}"))
            .uid()
            .to_owned()
    };
    match expect {
        Permit(rule, view) => assert_eq!(
            decision,
            Decision::Permit {
                policy: owner(rule),
                rule: rule.into(),
                view
            },
            "{case}: {explanation}"
        ),
        Prohibited(rule) => assert_eq!(
            decision,
            Decision::Deny {
                policy: Some(owner(rule)),
                rule: Some(rule.into()),
                reason: format!("prohibited by {rule}"),
            },
            "{case}: {explanation}"
        ),
        DefaultDeny => assert_eq!(
            decision,
            Decision::Deny {
                policy: None,
                rule: None,
                reason: NO_PERMISSION.into()
            },
            "{case}: {explanation}"
        ),
        Explain(parts) => {
            let text = explanation.to_string();
            for part in parts {
                assert!(text.contains(part), "{case}: {part:?} not in\n{text}");
            }
        }
        LoadError { .. } | SyntaxError { .. } => unreachable!(),
    }
}

/// A policy `urn:t:one` with one `use`/full permission (`urn:t:one#p0`) guarded by `constraint`.
fn one(constraint: &str) -> String {
    format!(
        r#"{{"uid": "urn:t:one", "permission": [{{"action": "use", "view": "full", "constraint": [{constraint}]}}]}}"#
    )
}

fn c(left: &str, op: &str, right: &str) -> String {
    one(&format!(
        r#"{{"leftOperand": "{left}", "operator": "{op}", "rightOperand": {right}}}"#
    ))
}

const P: &str = "urn:t:one#p0";

fn run(cases: Vec<(&str, Vec<String>, Build, Expect)>) {
    for (case, srcs, build, expect) in cases {
        let srcs: Vec<&str> = srcs.iter().map(String::as_str).collect();
        check(case, &srcs, build, expect);
    }
}

fn v(s: String) -> Vec<String> {
    vec![s]
}

fn tpl(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| template(n).to_owned()).collect()
}

#[test]
fn party_operands() {
    run(vec![
        (
            "partnerId eq",
            v(c("partnerId", "eq", r#""urn:tanso:company:acme""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "partnerId eq other",
            v(c("partnerId", "eq", r#""urn:tanso:company:acme""#)),
            |r| r.id("urn:tanso:company:other"),
            DefaultDeny,
        ),
        (
            "partnerId case-insensitive",
            v(c("partnerId", "eq", r#""URN:Tanso:Company:ACME""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "partnerId neq self",
            v(c("partnerId", "neq", r#""urn:tanso:company:acme""#)),
            same,
            DefaultDeny,
        ),
        (
            "partnerId neq other",
            v(c("partnerId", "neq", r#""urn:tanso:company:acme""#)),
            |r| r.id("urn:tanso:company:b"),
            Permit(P, View::Full),
        ),
        (
            "partnerId isAnyOf",
            v(c(
                "partnerId",
                "isAnyOf",
                r#"["urn:x", "urn:tanso:company:acme"]"#,
            )),
            same,
            Permit(P, View::Full),
        ),
        (
            "partnerId isNoneOf",
            v(c(
                "partnerId",
                "isNoneOf",
                r#"["urn:x", "urn:tanso:company:acme"]"#,
            )),
            same,
            DefaultDeny,
        ),
        (
            "group eq",
            v(c("partnerGroup", "eq", r#""customer""#)),
            |r| r.groups(&["customer"]),
            Permit(P, View::Full),
        ),
        (
            "group eq among several",
            v(c("partnerGroup", "eq", r#""customer""#)),
            |r| r.groups(&["supplier", "customer"]),
            Permit(P, View::Full),
        ),
        (
            "group eq other",
            v(c("partnerGroup", "eq", r#""customer""#)),
            |r| r.groups(&["supplier"]),
            DefaultDeny,
        ),
        (
            "group eq none",
            v(c("partnerGroup", "eq", r#""customer""#)),
            same,
            DefaultDeny,
        ),
        (
            "group neq none",
            v(c("partnerGroup", "neq", r#""competitor""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "group neq hit",
            v(c("partnerGroup", "neq", r#""competitor""#)),
            |r| r.groups(&["customer", "competitor"]),
            DefaultDeny,
        ),
        (
            "group isAnyOf",
            v(c("partnerGroup", "isAnyOf", r#"["tier1", "tier2"]"#)),
            |r| r.groups(&["tier2"]),
            Permit(P, View::Full),
        ),
        (
            "group isAnyOf miss",
            v(c("partnerGroup", "isAnyOf", r#"["tier1", "tier2"]"#)),
            |r| r.groups(&["customer"]),
            DefaultDeny,
        ),
        (
            "group isNoneOf",
            v(c(
                "partnerGroup",
                "isNoneOf",
                r#"["competitor", "blocked"]"#,
            )),
            |r| r.groups(&["customer"]),
            Permit(P, View::Full),
        ),
        (
            "group isNoneOf hit",
            v(c(
                "partnerGroup",
                "isNoneOf",
                r#"["competitor", "blocked"]"#,
            )),
            |r| r.groups(&["customer", "BLOCKED"]),
            DefaultDeny,
        ),
        (
            "membership eq",
            v(c("membership", "eq", r#""urn:assoc:steel""#)),
            |r| r.member(&["urn:assoc:steel"]),
            Permit(P, View::Full),
        ),
        (
            "membership eq none",
            v(c("membership", "eq", r#""urn:assoc:steel""#)),
            same,
            DefaultDeny,
        ),
        (
            "membership isNoneOf",
            v(c("membership", "isNoneOf", r#"["urn:assoc:rival"]"#)),
            |r| r.member(&["urn:assoc:steel"]),
            Permit(P, View::Full),
        ),
        (
            "buys prefix",
            v(c("buysClassification", "eq", r#""urn:hs:72*""#)),
            |r| r.buys(&["urn:hs:7208"]),
            Permit(P, View::Full),
        ),
        (
            "buys prefix miss",
            v(c("buysClassification", "eq", r#""urn:hs:72*""#)),
            |r| r.buys(&["urn:hs:7308"]),
            DefaultDeny,
        ),
        (
            "buys neq",
            v(c("buysClassification", "neq", r#""urn:hs:72*""#)),
            |r| r.buys(&["urn:hs:7308"]),
            Permit(P, View::Full),
        ),
    ]);
}

#[test]
fn purpose_operand() {
    run(vec![
        (
            "purpose eq",
            v(c("purpose", "eq", r#""cbam""#)),
            |r| r.purpose("cbam"),
            Permit(P, View::Full),
        ),
        (
            "purpose eq case",
            v(c("purpose", "eq", r#""cbam""#)),
            |r| r.purpose("CBAM"),
            Permit(P, View::Full),
        ),
        (
            "purpose eq other",
            v(c("purpose", "eq", r#""cbam""#)),
            |r| r.purpose("scope3-reporting"),
            DefaultDeny,
        ),
        (
            "purpose eq absent",
            v(c("purpose", "eq", r#""cbam""#)),
            same,
            DefaultDeny,
        ),
        (
            "purpose neq absent",
            v(c("purpose", "neq", r#""marketing""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "purpose neq hit",
            v(c("purpose", "neq", r#""marketing""#)),
            |r| r.purpose("marketing"),
            DefaultDeny,
        ),
        (
            "purpose isAnyOf",
            v(c("purpose", "isAnyOf", r#"["cbam", "scope3-reporting"]"#)),
            |r| r.purpose("scope3-reporting"),
            Permit(P, View::Full),
        ),
        (
            "purpose isAnyOf absent",
            v(c("purpose", "isAnyOf", r#"["cbam"]"#)),
            same,
            DefaultDeny,
        ),
        (
            "purpose isNoneOf absent",
            v(c("purpose", "isNoneOf", r#"["marketing"]"#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "purpose isNoneOf hit",
            v(c("purpose", "isNoneOf", r#"["marketing", "resale"]"#)),
            |r| r.purpose("resale"),
            DefaultDeny,
        ),
    ]);
}

#[test]
fn product_operands() {
    run(vec![
        (
            "productId eq",
            v(c("productId", "eq", r#""urn:gtin:4012345000009""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "productId case-insensitive",
            v(c("productId", "eq", r#""URN:GTIN:4012345000009""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "productId eq other",
            v(c("productId", "eq", r#""urn:gtin:1""#)),
            same,
            DefaultDeny,
        ),
        (
            "productId any of several ids",
            v(c("productId", "eq", r#""urn:gtin:1""#)),
            |r| r.products(&["urn:gtin:9", "urn:gtin:1"]),
            Permit(P, View::Full),
        ),
        (
            "productId prefix",
            v(c(
                "productId",
                "isAnyOf",
                r#"["urn:gtin:1*", "urn:gtin:4012*"]"#,
            )),
            same,
            Permit(P, View::Full),
        ),
        (
            "productId prefix miss",
            v(c(
                "productId",
                "isAnyOf",
                r#"["urn:gtin:1*", "urn:gtin:4012*"]"#,
            )),
            |r| r.products(&["urn:gtin:5000"]),
            DefaultDeny,
        ),
        (
            "productId is exact without *",
            v(c("productId", "eq", r#""urn:gtin:4012""#)),
            same,
            DefaultDeny,
        ),
        (
            "productId neq",
            v(c("productId", "neq", r#""urn:gtin:1""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "class prefix",
            v(c("productClassification", "eq", r#""urn:hs:72*""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "class prefix case",
            v(c("productClassification", "eq", r#""urn:hs:72*""#)),
            |r| r.classes(&["URN:HS:7208"]),
            Permit(P, View::Full),
        ),
        (
            "class prefix policy upper",
            v(c("productClassification", "eq", r#""URN:HS:72*""#)),
            same,
            Permit(P, View::Full),
        ),
        (
            "class prefix miss",
            v(c("productClassification", "eq", r#""urn:hs:72*""#)),
            |r| r.classes(&["urn:hs:7308"]),
            DefaultDeny,
        ),
        (
            "class shorter than prefix",
            v(c("productClassification", "eq", r#""urn:hs:72*""#)),
            |r| r.classes(&["urn:hs:7"]),
            DefaultDeny,
        ),
        (
            "class none",
            v(c("productClassification", "eq", r#""urn:hs:72*""#)),
            |r| r.classes(&[]),
            DefaultDeny,
        ),
        (
            "class isNoneOf hit",
            v(c("productClassification", "isNoneOf", r#"["urn:hs:72*"]"#)),
            same,
            DefaultDeny,
        ),
        (
            "class isNoneOf miss",
            v(c("productClassification", "isNoneOf", r#"["urn:hs:72*"]"#)),
            |r| r.classes(&["urn:hs:7308"]),
            Permit(P, View::Full),
        ),
        (
            "class isNoneOf empty",
            v(c("productClassification", "isNoneOf", r#"["urn:hs:72*"]"#)),
            |r| r.classes(&[]),
            Permit(P, View::Full),
        ),
        (
            "bare * matches any",
            v(c("productClassification", "eq", r#""*""#)),
            same,
            Permit(P, View::Full),
        ),
    ]);
}

#[test]
fn date_time_window_boundaries() {
    const FROM: &str = r#""2026-01-01T00:00:00Z""#;
    run(vec![
        (
            "gteq at boundary",
            v(c("dateTime", "gteq", FROM)),
            |r| r.at("2026-01-01T00:00:00Z"),
            Permit(P, View::Full),
        ),
        (
            "gteq 1s before",
            v(c("dateTime", "gteq", FROM)),
            |r| r.at("2025-12-31T23:59:59Z"),
            DefaultDeny,
        ),
        (
            "gt at boundary",
            v(c("dateTime", "gt", FROM)),
            |r| r.at("2026-01-01T00:00:00Z"),
            DefaultDeny,
        ),
        (
            "gt 1s after",
            v(c("dateTime", "gt", FROM)),
            |r| r.at("2026-01-01T00:00:01Z"),
            Permit(P, View::Full),
        ),
        (
            "lt at boundary",
            v(c("dateTime", "lt", FROM)),
            |r| r.at("2026-01-01T00:00:00Z"),
            DefaultDeny,
        ),
        (
            "lt 1s before",
            v(c("dateTime", "lt", FROM)),
            |r| r.at("2025-12-31T23:59:59Z"),
            Permit(P, View::Full),
        ),
        (
            "lteq at boundary",
            v(c("dateTime", "lteq", FROM)),
            |r| r.at("2026-01-01T00:00:00Z"),
            Permit(P, View::Full),
        ),
        (
            "lteq 1ms after",
            v(c("dateTime", "lteq", FROM)),
            |r| r.at("2026-01-01T00:00:00.001Z"),
            DefaultDeny,
        ),
        (
            "offset is the same instant",
            v(c("dateTime", "gteq", r#""2026-01-01T09:00:00+09:00""#)),
            |r| r.at("2026-01-01T00:00:00Z"),
            Permit(P, View::Full),
        ),
        (
            "offset 1s early",
            v(c("dateTime", "gteq", r#""2026-01-01T09:00:00+09:00""#)),
            |r| r.at("2025-12-31T23:59:59Z"),
            DefaultDeny,
        ),
        (
            "typed literal",
            v(c(
                "dateTime",
                "lt",
                r#"{"@value": "2026-01-01T00:00:00Z", "@type": "xsd:dateTime"}"#,
            )),
            |r| r.at("2025-06-01T00:00:00Z"),
            Permit(P, View::Full),
        ),
        (
            "typed literal past",
            v(c(
                "dateTime",
                "lt",
                r#"{"@value": "2026-01-01T00:00:00Z", "@type": "xsd:dateTime"}"#,
            )),
            same,
            DefaultDeny,
        ),
    ]);
}

#[test]
fn daily_count_cap() {
    run(vec![
        (
            "lteq 1000 at 999 served",
            v(c("dailyCount", "lteq", "1000")),
            |r| r.today(999),
            Permit(P, View::Full),
        ),
        (
            "lteq 1000 at 1000 served",
            v(c("dailyCount", "lteq", "1000")),
            |r| r.today(1000),
            DefaultDeny,
        ),
        (
            "lteq 1000 saturated",
            v(c("dailyCount", "lteq", "1000")),
            |r| r.today(u32::MAX),
            DefaultDeny,
        ),
        (
            "lt 3 second request",
            v(c("dailyCount", "lt", "3")),
            |r| r.today(1),
            Permit(P, View::Full),
        ),
        (
            "lt 3 third request",
            v(c("dailyCount", "lt", "3")),
            |r| r.today(2),
            DefaultDeny,
        ),
        (
            "eq 1 first request",
            v(c("dailyCount", "eq", "1")),
            same,
            Permit(P, View::Full),
        ),
        (
            "eq 1 second request",
            v(c("dailyCount", "eq", "1")),
            |r| r.today(1),
            DefaultDeny,
        ),
        (
            "neq 1 second request",
            v(c("dailyCount", "neq", "1")),
            |r| r.today(1),
            Permit(P, View::Full),
        ),
        (
            "gt 5",
            v(c("dailyCount", "gt", "5")),
            |r| r.today(5),
            Permit(P, View::Full),
        ),
        (
            "gteq 6 too early",
            v(c("dailyCount", "gteq", "6")),
            |r| r.today(4),
            DefaultDeny,
        ),
        (
            "typed integer",
            v(c(
                "dailyCount",
                "lteq",
                r#"{"@value": 2, "@type": "xsd:integer"}"#,
            )),
            |r| r.today(1),
            Permit(P, View::Full),
        ),
    ]);
}

#[test]
fn actions_and_logic() {
    let read_only = r#"{"uid": "urn:t:one", "permission": [{"action": "read", "view": "full"}]}"#;
    let subscribe_only = r#"{"uid": "urn:t:one", "permission": [{"action": "subscribe", "view": "full", "constraint": []}]}"#;
    let or = one(
        r#"{"or": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "customer"},
                   {"leftOperand": "membership", "operator": "eq", "rightOperand": "urn:assoc:steel"}]}"#,
    );
    let nested = one(
        r#"{"or": [{"and": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "tier1"},
                            {"leftOperand": "purpose", "operator": "eq", "rightOperand": "cbam"}]},
                   {"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "customer"}]}"#,
    );
    run(vec![
        (
            "read rule, read",
            v(read_only.into()),
            same,
            Permit(P, View::Full),
        ),
        (
            "read rule, subscribe",
            v(read_only.into()),
            |r| r.action(Action::Subscribe),
            DefaultDeny,
        ),
        (
            "read rule, request",
            v(read_only.into()),
            |r| r.action(Action::Request),
            DefaultDeny,
        ),
        (
            "subscribe rule, subscribe",
            v(subscribe_only.into()),
            |r| r.action(Action::Subscribe),
            Permit(P, View::Full),
        ),
        (
            "subscribe rule, read",
            v(subscribe_only.into()),
            same,
            DefaultDeny,
        ),
        (
            "use rule, request",
            v(c("partnerGroup", "eq", r#""customer""#)),
            |r| r.groups(&["customer"]).action(Action::Request),
            Permit(P, View::Full),
        ),
        (
            "use rule, subscribe",
            v(c("partnerGroup", "eq", r#""customer""#)),
            |r| r.groups(&["customer"]).action(Action::Subscribe),
            Permit(P, View::Full),
        ),
        (
            "read rule, use request",
            v(read_only.into()),
            |r| r.action(Action::Use),
            DefaultDeny,
        ),
        (
            "or first",
            v(or.clone()),
            |r| r.groups(&["customer"]),
            Permit(P, View::Full),
        ),
        (
            "or second",
            v(or.clone()),
            |r| r.member(&["urn:assoc:steel"]),
            Permit(P, View::Full),
        ),
        (
            "or neither",
            v(or),
            |r| r.groups(&["supplier"]),
            DefaultDeny,
        ),
        (
            "nested and in or",
            v(nested.clone()),
            |r| r.groups(&["tier1"]).purpose("cbam"),
            Permit(P, View::Full),
        ),
        (
            "nested and fails",
            v(nested.clone()),
            |r| r.groups(&["tier1"]),
            DefaultDeny,
        ),
        (
            "nested other branch",
            v(nested),
            |r| r.groups(&["customer"]),
            Permit(P, View::Full),
        ),
        (
            "constraint list is and",
            v(one(
                r#"{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "customer"},
            {"leftOperand": "purpose", "operator": "eq", "rightOperand": "cbam"}"#,
            )),
            |r| r.groups(&["customer"]),
            DefaultDeny,
        ),
        (
            "rightOperand first",
            v(one(
                r#"{"rightOperand": "customer", "operator": "eq", "leftOperand": "partnerGroup"}"#,
            )),
            |r| r.groups(&["customer"]),
            Permit(P, View::Full),
        ),
    ]);
}

fn policy(uid: &str, perms: &str, prohibs: &str) -> String {
    format!(r#"{{"uid": "{uid}", "permission": [{perms}], "prohibition": [{prohibs}]}}"#)
}

#[test]
fn precedence_and_view_selection() {
    let summary = r#"{"action": "use", "view": "summary"}"#;
    let full = r#"{"action": "use", "view": "full"}"#;
    let no_read = r#"{"action": "read"}"#;
    let no_x = r#"{"action": "use", "constraint": [{"leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "x"}]}"#;
    let ab = || vec![policy("urn:t:b", full, ""), policy("urn:t:a", full, "")];
    run(vec![
        (
            "prohibition across policies",
            tpl(&["share-with-customers", "deny-competitors"]),
            |r| r.groups(&["customer", "competitor"]),
            Prohibited("urn:tanso:policy:deny-competitors#x0"),
        ),
        (
            "prohibition same policy",
            v(policy("urn:t:a", full, no_read)),
            same,
            Prohibited("urn:t:a#x0"),
        ),
        (
            "prohibition for another action",
            v(policy("urn:t:a", full, no_read)),
            |r| r.action(Action::Subscribe),
            Permit("urn:t:a#p0", View::Full),
        ),
        (
            "prohibition constraint not met",
            v(policy("urn:t:a", full, no_x)),
            same,
            Permit("urn:t:a#p0", View::Full),
        ),
        (
            "first prohibition by uid",
            vec![
                policy("urn:t:b", "", no_read),
                policy("urn:t:a", "", no_read),
            ],
            same,
            Prohibited("urn:t:a#x0"),
        ),
        (
            "full beats earlier summary",
            vec![policy("urn:t:a", summary, ""), policy("urn:t:b", full, "")],
            same,
            Permit("urn:t:b#p0", View::Full),
        ),
        (
            "full beats later summary in policy",
            v(policy("urn:t:a", &format!("{summary}, {full}"), "")),
            same,
            Permit("urn:t:a#p1", View::Full),
        ),
        (
            "tie goes to lower uid",
            ab(),
            same,
            Permit("urn:t:a#p0", View::Full),
        ),
        (
            "tie goes to lower index",
            v(policy("urn:t:a", &format!("{summary}, {summary}"), "")),
            same,
            Permit("urn:t:a#p0", View::Summary),
        ),
        (
            "customer and member get full",
            tpl(&["association-members", "share-with-customers"]),
            |r| {
                r.groups(&["customer"])
                    .member(&["urn:tanso:association:example-steel"])
            },
            Permit("urn:tanso:policy:share-with-customers#p0", View::Full),
        ),
        (
            "member only gets summary",
            tpl(&["association-members", "share-with-customers"]),
            |r| r.member(&["urn:tanso:association:example-steel"]),
            Permit("urn:tanso:policy:association-members#p0", View::Summary),
        ),
        ("default deny, empty set", vec![], same, DefaultDeny),
        (
            "default deny, nothing matches",
            tpl(&["share-with-customers", "summary-for-prospects"]),
            |r| r.groups(&["supplier"]),
            DefaultDeny,
        ),
        (
            "rule uid used as id",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam"),
            Permit("urn:tanso:policy:cbam-importers#steel", View::Full),
        ),
    ]);
}

#[test]
fn templates() {
    const CBAM: &str = "urn:tanso:policy:cbam-importers#steel";
    const STEEL: &str = "urn:tanso:policy:steel-buyers#p0";
    run(vec![
        // share-with-customers
        (
            "customers read",
            tpl(&["share-with-customers"]),
            |r| r.groups(&["customer"]),
            Permit("urn:tanso:policy:share-with-customers#p0", View::Full),
        ),
        (
            "customers subscribe",
            tpl(&["share-with-customers"]),
            |r| r.groups(&["customer"]).action(Action::Subscribe),
            Permit("urn:tanso:policy:share-with-customers#p0", View::Full),
        ),
        (
            "suppliers denied",
            tpl(&["share-with-customers"]),
            |r| r.groups(&["supplier"]),
            DefaultDeny,
        ),
        // summary-for-prospects
        (
            "prospect with purpose",
            tpl(&["summary-for-prospects"]),
            |r| r.groups(&["prospect"]).purpose("scope3-reporting"),
            Permit("urn:tanso:policy:summary-for-prospects#p0", View::Summary),
        ),
        (
            "prospect without purpose",
            tpl(&["summary-for-prospects"]),
            |r| r.groups(&["prospect"]),
            DefaultDeny,
        ),
        (
            "prospect other purpose",
            tpl(&["summary-for-prospects"]),
            |r| r.groups(&["prospect"]).purpose("marketing"),
            DefaultDeny,
        ),
        (
            "prospect subscribe",
            tpl(&["summary-for-prospects"]),
            |r| {
                r.groups(&["prospect"])
                    .purpose("scope3-reporting")
                    .action(Action::Subscribe)
            },
            DefaultDeny,
        ),
        // deny-competitors
        (
            "competitor alone",
            tpl(&["deny-competitors"]),
            |r| r.groups(&["competitor"]),
            Prohibited("urn:tanso:policy:deny-competitors#x0"),
        ),
        (
            "non-competitor customer",
            tpl(&["deny-competitors", "share-with-customers"]),
            |r| r.groups(&["customer"]),
            Permit("urn:tanso:policy:share-with-customers#p0", View::Full),
        ),
        (
            "competitor prospect",
            tpl(&["deny-competitors", "summary-for-prospects"]),
            |r| {
                r.groups(&["prospect", "competitor"])
                    .purpose("scope3-reporting")
            },
            Prohibited("urn:tanso:policy:deny-competitors#x0"),
        ),
        // cbam-importers
        (
            "cbam steel",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam"),
            Permit(CBAM, View::Full),
        ),
        (
            "cbam cn code",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").classes(&["urn:cn:73089098"]),
            Permit(CBAM, View::Full),
        ),
        (
            "cbam last second",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").at("2027-12-31T23:59:59Z"),
            Permit(CBAM, View::Full),
        ),
        (
            "cbam window end",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").at("2028-01-01T00:00:00Z"),
            DefaultDeny,
        ),
        (
            "cbam before window",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").at("2025-12-31T23:59:59Z"),
            DefaultDeny,
        ),
        (
            "cbam 1000th request",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").today(999),
            Permit(CBAM, View::Full),
        ),
        (
            "cbam 1001st request",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").today(1000),
            DefaultDeny,
        ),
        (
            "cbam not steel",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").classes(&["urn:hs:8501"]),
            DefaultDeny,
        ),
        (
            "cbam wrong purpose",
            tpl(&["cbam-importers"]),
            |r| r.purpose("scope3-reporting"),
            DefaultDeny,
        ),
        (
            "cbam subscribe",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").action(Action::Subscribe),
            DefaultDeny,
        ),
        // association-members
        (
            "member",
            tpl(&["association-members"]),
            |r| r.member(&["urn:tanso:association:example-steel"]),
            Permit("urn:tanso:policy:association-members#p0", View::Summary),
        ),
        (
            "member subscribe",
            tpl(&["association-members"]),
            |r| {
                r.member(&["urn:tanso:association:example-steel"])
                    .action(Action::Subscribe)
            },
            DefaultDeny,
        ),
        (
            "non-member",
            tpl(&["association-members"]),
            |r| r.member(&["urn:tanso:association:other"]),
            DefaultDeny,
        ),
        // steel-buyers
        (
            "buyer of steel",
            tpl(&["steel-buyers"]),
            |r| r.buys(&["urn:hs:7208"]),
            Permit(STEEL, View::Summary),
        ),
        (
            "tier1",
            tpl(&["steel-buyers"]),
            |r| r.groups(&["tier1"]).action(Action::Subscribe),
            Permit(STEEL, View::Summary),
        ),
        (
            "buyer of copper",
            tpl(&["steel-buyers"]),
            |r| r.buys(&["urn:hs:7403"]),
            DefaultDeny,
        ),
        (
            "buyer, non-steel product",
            tpl(&["steel-buyers"]),
            |r| r.buys(&["urn:hs:7208"]).classes(&["urn:hs:7403"]),
            DefaultDeny,
        ),
        (
            "buyer for marketing",
            tpl(&["steel-buyers"]),
            |r| r.buys(&["urn:hs:7208"]).purpose("marketing"),
            Prohibited("urn:tanso:policy:steel-buyers#x0"),
        ),
        // all together
        (
            "all templates, customer",
            tpl(&[
                "share-with-customers",
                "summary-for-prospects",
                "deny-competitors",
                "cbam-importers",
                "association-members",
                "steel-buyers",
            ]),
            |r| r.groups(&["customer"]).purpose("cbam"),
            Permit("urn:tanso:policy:cbam-importers#steel", View::Full),
        ),
    ]);
}

/// A policy with one permission whose single constraint is written on line 8.
fn at_line8(constraint: &str) -> String {
    format!(
        "{{\n  \"uid\": \"urn:t:bad\",\n  \"permission\": [\n    {{\n      \"action\": \"read\",\n      \"view\": \"full\",\n      \"constraint\": [\n        {constraint}\n      ]\n    }}\n  ]\n}}\n"
    )
}

#[test]
fn load_errors() {
    const C0: &str = "/permission/0/constraint/0";
    run(vec![
        ("unknown leftOperand", v(at_line8(r#"{ "leftOperand": "partnerGrup", "operator": "eq", "rightOperand": "customer" }"#)), same,
            LoadError { line: 8, column: 38, msg: "unknown leftOperand \"partnerGrup\", expected one of partnerId, partnerGroup, purpose", path: "/permission/0/constraint/0/leftOperand" }),
        ("disclosureView hint", v(at_line8(r#"{ "leftOperand": "disclosureView", "operator": "eq", "rightOperand": "full" }"#)), same,
            LoadError { line: 8, column: 41, msg: "set the permission's \"view\"", path: "/permission/0/constraint/0/leftOperand" }),
        ("unknown operator", v(at_line8(r#"{ "leftOperand": "partnerGroup", "operator": "equals", "rightOperand": "customer" }"#)), same,
            LoadError { line: 8, column: 61, msg: "unknown operator \"equals\", expected one of eq, neq, isAnyOf", path: "/permission/0/constraint/0/operator" }),
        ("gt on a string operand", v(at_line8(r#"{ "leftOperand": "partnerGroup", "operator": "gt", "rightOperand": "customer" }"#)), same,
            LoadError { line: 8, column: 57, msg: "operator \"gt\" is not allowed for partnerGroup (a string operand)", path: "/permission/0/constraint/0/operator" }),
        ("operator before leftOperand", v(at_line8(r#"{ "operator": "isAnyOf", "leftOperand": "dateTime", "rightOperand": [] }"#)), same,
            LoadError { line: 8, column: 58, msg: "operator \"isAnyOf\" is not allowed for dateTime (a timestamp operand)", path: "/permission/0/constraint/0/leftOperand" }),
        ("bad date", v(at_line8(r#"{ "leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-13-01T00:00:00Z" }"#)), same,
            LoadError { line: 8, column: 93, msg: "dateTime needs an RFC 3339 timestamp like 2026-01-01T00:00:00Z, got \"2026-13-01T00:00:00Z\"", path: "/permission/0/constraint/0/rightOperand" }),
        ("date without time zone", v(at_line8(r#"{ "leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-12-01" }"#)), same,
            LoadError { line: 8, column: 83, msg: "got \"2026-12-01\"", path: "/permission/0/constraint/0/rightOperand" }),
        ("date as number", v(at_line8(r#"{ "leftOperand": "dateTime", "operator": "lt", "rightOperand": 20261201 }"#)), same,
            LoadError { line: 8, column: 79, msg: "dateTime needs an RFC 3339 timestamp string, got number 20261201", path: "/permission/0/constraint/0/rightOperand" }),
        ("dailyCount as string", v(at_line8(r#"{ "leftOperand": "dailyCount", "operator": "lteq", "rightOperand": "1000" }"#)), same,
            LoadError { line: 8, column: 81, msg: "dailyCount needs a non-negative integer rightOperand, got string \"1000\"", path: "/permission/0/constraint/0/rightOperand" }),
        ("dailyCount negative", v(at_line8(r#"{ "leftOperand": "dailyCount", "operator": "lteq", "rightOperand": -1 }"#)), same,
            LoadError { line: 8, column: 77, msg: "got number -1", path: "/permission/0/constraint/0/rightOperand" }),
        ("dailyCount fraction", v(at_line8(r#"{ "leftOperand": "dailyCount", "operator": "lteq", "rightOperand": 1.5 }"#)), same,
            LoadError { line: 8, column: 78, msg: "got number 1.5", path: "/permission/0/constraint/0/rightOperand" }),
        ("dailyCount typed as string", v(at_line8(r#"{ "leftOperand": "dailyCount", "operator": "lteq", "rightOperand": {"@value": 5, "@type": "xsd:string"} }"#)), same,
            LoadError { line: 8, column: 111, msg: "\"@type\" \"xsd:string\" does not fit dailyCount", path: "/permission/0/constraint/0/rightOperand" }),
        ("isAnyOf with a scalar", v(at_line8(r#"{ "leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": "cbam" }"#)), same,
            LoadError { line: 8, column: 81, msg: "isAnyOf needs an array of strings, got string \"cbam\"", path: "/permission/0/constraint/0/rightOperand" }),
        ("isAnyOf empty", v(at_line8(r#"{ "leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": [] }"#)), same,
            LoadError { line: 8, column: 77, msg: "isAnyOf needs at least one value", path: "/permission/0/constraint/0/rightOperand" }),
        ("isAnyOf non-string", v(at_line8(r#"{ "leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["cbam", 7] }"#)), same,
            LoadError { line: 8, column: 86, msg: "rightOperand[1]: purpose needs a string, got number 7", path: "/permission/0/constraint/0/rightOperand" }),
        ("eq with a list", v(at_line8(r#"{ "leftOperand": "purpose", "operator": "eq", "rightOperand": ["cbam"] }"#)), same,
            LoadError { line: 8, column: 78, msg: "eq needs a single string, use isAnyOf or isNoneOf for a list", path: "/permission/0/constraint/0/rightOperand" }),
        ("wildcard on a group", v(at_line8(r#"{ "leftOperand": "partnerGroup", "operator": "eq", "rightOperand": "cust*" }"#)), same,
            LoadError { line: 8, column: 82, msg: "wildcard \"*\" in \"cust*\" is only supported for productId", path: "/permission/0/constraint/0/rightOperand" }),
        ("wildcard inside a pattern", v(at_line8(r#"{ "leftOperand": "productId", "operator": "eq", "rightOperand": "urn:*:1" }"#)), same,
            LoadError { line: 8, column: 81, msg: "\"*\" is only allowed at the end of a pattern", path: "/permission/0/constraint/0/rightOperand" }),
        ("empty string", v(at_line8(r#"{ "leftOperand": "purpose", "operator": "eq", "rightOperand": "" }"#)), same,
            LoadError { line: 8, column: 72, msg: "purpose needs a non-empty string", path: "/permission/0/constraint/0/rightOperand" }),
        ("deferred rightOperand is typed at the end", v(at_line8(r#"{ "rightOperand": "soon", "leftOperand": "dateTime", "operator": "lt" }"#)), same,
            LoadError { line: 8, column: 79, msg: "dateTime needs an RFC 3339 timestamp", path: "/permission/0/constraint/0/rightOperand" }),
        ("unknown constraint key", v(at_line8(r#"{ "leftOperand": "purpose", "op": "eq", "rightOperand": "x" }"#)), same,
            LoadError { line: 8, column: 40, msg: "unknown key \"op\" in constraint, expected one of leftOperand, operator, rightOperand, rightOperandReference, and, or", path: "/permission/0/constraint/0/op" }),
        ("missing operator", v(at_line8(r#"{ "leftOperand": "purpose", "rightOperand": "x" }"#)), same,
            LoadError { line: 8, column: 57, msg: "missing \"operator\" in constraint", path: C0 }),
        ("atomic and logical mixed", v(at_line8(r#"{ "leftOperand": "purpose", "or": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "x"}] }"#)), same,
            LoadError { line: 8, column: 111, msg: "either atomic", path: C0 }),
        ("empty or", v(at_line8(r#"{ "or": [] }"#)), same,
            LoadError { line: 8, column: 18, msg: "\"or\" needs at least one constraint", path: "/permission/0/constraint/0/or" }),
        ("duplicate key", v(at_line8(r#"{ "leftOperand": "purpose", "leftOperand": "purpose" }"#)), same,
            LoadError { line: 8, column: 49, msg: "duplicate key \"leftOperand\" in constraint", path: "/permission/0/constraint/0/leftOperand" }),
        ("unknown top-level key", v("{\n  \"uid\": \"urn:t:x\",\n  \"permissions\": []\n}".into()), same,
            LoadError { line: 3, column: 15, msg: "unknown key \"permissions\" in policy, expected one of @context, @type, uid, target, permission, prohibition", path: "/permissions" }),
        ("unknown rule key", v(r#"{"uid": "urn:t:x", "permission": [{"action": "use", "view": "full", "duty": []}]}"#.into()), same,
            LoadError { line: 1, column: 74, msg: "unknown key \"duty\" in permission", path: "/permission/0/duty" }),
        ("view in a prohibition", v(r#"{"uid": "urn:t:x", "prohibition": [{"action": "use", "view": "full"}]}"#.into()), same,
            LoadError { line: 1, column: 59, msg: "unknown key \"view\" in prohibition, expected one of uid, action, constraint, target", path: "/prohibition/0/view" }),
        ("missing view", v(r#"{"uid": "urn:t:x", "permission": [{"action": "use"}]}"#.into()), same,
            LoadError { line: 1, column: 51, msg: "missing \"view\" in permission", path: "/permission/0" }),
        ("bad view", v(r#"{"uid": "urn:t:x", "permission": [{"action": "use", "view": "partial"}]}"#.into()), same,
            LoadError { line: 1, column: 69, msg: "unknown view \"partial\", expected \"full\" or \"summary\"", path: "/permission/0/view" }),
        ("missing action", v(r#"{"uid": "urn:t:x", "permission": [{"view": "full"}]}"#.into()), same,
            LoadError { line: 1, column: 50, msg: "missing \"action\" in permission", path: "/permission/0" }),
        ("unknown action", v(r#"{"uid": "urn:t:x", "permission": [{"action": "distribute", "view": "full"}]}"#.into()), same,
            LoadError { line: 1, column: 57, msg: "unknown action \"distribute\", expected one of read, request, subscribe, use", path: "/permission/0/action" }),
        ("action of wrong type", v(r#"{"uid": "urn:t:x", "permission": [{"action": 5, "view": "full"}]}"#.into()), same,
            LoadError { line: 1, column: 46, msg: "invalid type: integer `5`, expected a string", path: "/permission/0/action" }),
        ("empty permission and prohibition", v(r#"{"uid": "urn:t:x", "permission": [], "prohibition": []}"#.into()), same,
            LoadError { line: 1, column: 55, msg: "policy has no rules, expected at least one permission or prohibition", path: "" }),
        ("no rules at all", v(r#"{"uid": "urn:t:x"}"#.into()), same,
            LoadError { line: 1, column: 18, msg: "policy has no rules", path: "" }),
        ("missing uid", v(r#"{"permission": [{"action": "use", "view": "full"}]}"#.into()), same,
            LoadError { line: 1, column: 51, msg: "missing \"uid\" in policy", path: "" }),
        ("uid with #", v(r#"{"uid": "urn:t:x#1", "permission": [{"action": "use", "view": "full"}]}"#.into()), same,
            LoadError { line: 1, column: 19, msg: "must not contain whitespace or \"#\"", path: "/uid" }),
        ("wrong @type", v(r#"{"@type": "Offer", "uid": "urn:t:x", "permission": [{"action": "use", "view": "full"}]}"#.into()), same,
            LoadError { line: 1, column: 17, msg: "unsupported @type \"Offer\", expected \"Set\"", path: "/@type" }),
        ("foreign target", v(r#"{"uid": "urn:t:x", "target": "urn:asset:1", "permission": [{"action": "use", "view": "full"}]}"#.into()), same,
            LoadError { line: 1, column: 42, msg: "unsupported target \"urn:asset:1\", expected \"urn:tanso:footprints\"", path: "/target" }),
        ("duplicate rule uid", v(r#"{"uid": "urn:t:x", "permission": [{"uid": "r", "action": "use", "view": "full"}, {"uid": "r", "action": "read", "view": "summary"}]}"#.into()), same,
            LoadError { line: 1, column: 132, msg: "duplicate rule id \"r\"", path: "/permission/1/uid" }),
        ("not an object", v("[]".into()), same,
            LoadError { line: 1, column: 1, msg: "invalid type: sequence, expected a policy object", path: "" }),
        ("trailing comma", v("{\"uid\": \"urn:t:x\",\n}".into()), same, SyntaxError { line: 2, column: 1 }),
        ("trailing characters", v(format!("{} x", one("")) ), same, SyntaxError { line: 1, column: 91 }),
    ]);
}

#[test]
fn explain_names_deciding_rule_and_failing_constraint() {
    run(vec![
        (
            "default deny",
            tpl(&["share-with-customers"]),
            |r| r.groups(&["supplier"]),
            Explain(&[
                "denied: no permission matches",
                "- permission rule urn:tanso:policy:share-with-customers#p0 (view full): constraint partnerGroup eq customer failed: partner groups [supplier]",
            ]),
        ),
        (
            "permit",
            tpl(&["deny-competitors", "share-with-customers"]),
            |r| r.groups(&["customer"]),
            Explain(&[
                "permitted by urn:tanso:policy:share-with-customers#p0 (view full)",
                "* permission rule urn:tanso:policy:share-with-customers#p0 (view full): matched",
                "- prohibition rule urn:tanso:policy:deny-competitors#x0: constraint partnerGroup eq competitor failed: partner groups [customer]",
            ]),
        ),
        (
            "prohibited",
            tpl(&["deny-competitors", "share-with-customers"]),
            |r| r.groups(&["customer", "competitor"]),
            Explain(&[
                "denied: prohibited by urn:tanso:policy:deny-competitors#x0",
                "* prohibition rule urn:tanso:policy:deny-competitors#x0: matched",
                "- permission rule urn:tanso:policy:share-with-customers#p0 (view full): matched",
            ]),
        ),
        (
            "daily cap",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").today(1000),
            Explain(&[
                "denied: no permission matches",
                "constraint dailyCount lteq 1000 failed: daily count 1001 (1000 requests already served today)",
            ]),
        ),
        (
            "window",
            tpl(&["cbam-importers"]),
            |r| r.purpose("cbam").at("2025-03-01T08:00:00Z"),
            Explain(&[
                "constraint dateTime gteq 2026-01-01T00:00:00Z failed: now 2025-03-01T08:00:00Z",
            ]),
        ),
        (
            "list operand",
            tpl(&["summary-for-prospects"]),
            |r| r.groups(&["prospect"]),
            Explain(&[
                "constraint purpose isAnyOf [scope3-reporting, supplier-selection, product-comparison] failed: no purpose declared",
            ]),
        ),
        (
            "action",
            tpl(&["association-members"]),
            |r| r.action(Action::Subscribe),
            Explain(&[
                "permission rule urn:tanso:policy:association-members#p0 (view summary): action read does not cover subscribe",
            ]),
        ),
        (
            "or",
            tpl(&["steel-buyers"]),
            same,
            Explain(&[
                "constraint or(buysClassification eq urn:hs:72*, partnerGroup eq tier1) failed: partner buys classifications []; partner groups []",
                "- prohibition rule urn:tanso:policy:steel-buyers#x0: constraint purpose isAnyOf [marketing, resale] failed: no purpose declared",
            ]),
        ),
        (
            "product",
            tpl(&["steel-buyers"]),
            |r| r.classes(&["urn:hs:7403"]),
            Explain(&[
                "constraint productClassification eq urn:hs:72* failed: product classifications [urn:hs:7403]",
            ]),
        ),
    ]);
}

#[test]
fn set_membership_by_uid() {
    let load = |name: &str| Policy::parse(name, template(name)).expect("template loads");
    let mut set = PolicySet::new();
    for name in ["steel-buyers", "share-with-customers", "deny-competitors"] {
        assert!(set.add(load(name)).is_none());
    }
    let uids: Vec<&str> = set.policies().iter().map(Policy::uid).collect();
    assert_eq!(
        uids,
        [
            "urn:tanso:policy:deny-competitors",
            "urn:tanso:policy:share-with-customers",
            "urn:tanso:policy:steel-buyers"
        ]
    );
    let replaced = set
        .add(load("share-with-customers"))
        .expect("same uid replaces");
    assert_eq!(replaced.source_name(), "share-with-customers");
    assert_eq!(set.len(), 3);
    let removed = set
        .remove("urn:tanso:policy:deny-competitors")
        .expect("present");
    assert_eq!(removed.prohibitions().len(), 1);
    assert!(set.remove("urn:tanso:policy:deny-competitors").is_none());
    assert!(set.get("urn:tanso:policy:steel-buyers").is_some());
    assert_eq!(set.len(), 2);
}

/// `shipmentCustomer` against the `partnerId` reference: the iLEAP template lets a shipper
/// read its own shipments and nothing else, with one rule for every shipper.
#[test]
fn shipment_customer_reference() {
    const OWN: &str = "urn:tanso:policy:ileap-shippers#own-shipments";
    let by_ref = |op: &str| {
        one(&format!(
            r#"{{"leftOperand": "shipmentCustomer", "operator": "{op}", "rightOperandReference": "partnerId"}}"#
        ))
    };
    run(vec![
        (
            "own shipment",
            tpl(&["ileap-shippers"]),
            |r| {
                r.id("urn:tanso:company:shipper-a")
                    .classes(&["urn:cpc:83117"])
                    .customers(&["URN:TANSO:COMPANY:SHIPPER-A"])
            },
            Permit(OWN, View::Full),
        ),
        (
            "another shipper's shipment",
            tpl(&["ileap-shippers"]),
            |r| {
                r.id("urn:tanso:company:shipper-b")
                    .classes(&["urn:cpc:83117"])
                    .customers(&["urn:tanso:company:shipper-a"])
            },
            DefaultDeny,
        ),
        (
            "a shipment for two shippers, second reads",
            tpl(&["ileap-shippers"]),
            |r| {
                r.id("urn:tanso:company:shipper-b")
                    .classes(&["urn:cpc:83117"])
                    .customers(&["urn:tanso:company:shipper-a", "urn:tanso:company:shipper-b"])
            },
            Permit(OWN, View::Full),
        ),
        (
            "no customer recorded",
            tpl(&["ileap-shippers"]),
            |r| r.classes(&["urn:cpc:83117"]),
            DefaultDeny,
        ),
        (
            "a request naming the shipment (no classification asked for)",
            tpl(&["ileap-shippers"]),
            |r| {
                r.id("urn:tanso:company:shipper-a")
                    .classes(&[])
                    .action(Action::Request)
                    .customers(&["urn:tanso:company:shipper-a"])
            },
            Permit(OWN, View::Full),
        ),
        (
            "an ordinary footprint names no customer",
            tpl(&["ileap-shippers"]),
            |r| r.id("urn:tanso:company:shipper-a"),
            DefaultDeny,
        ),
        (
            "neq holds for another's shipment",
            v(by_ref("neq")),
            |r| r.customers(&["urn:tanso:company:other"]),
            Permit(P, View::Full),
        ),
        (
            "neq fails for own shipment",
            v(by_ref("neq")),
            |r| r.customers(&["urn:tanso:company:acme"]),
            DefaultDeny,
        ),
        (
            "explain names customers and partner",
            tpl(&["ileap-shippers"]),
            |r| {
                r.id("urn:tanso:company:shipper-b")
                    .classes(&["urn:cpc:83117"])
                    .customers(&["urn:tanso:company:shipper-a"])
            },
            Explain(&[
                "constraint shipmentCustomer eq @partnerId failed: shipment customers [urn:tanso:company:shipper-a] (partner id urn:tanso:company:shipper-b)",
            ]),
        ),
        (
            "unknown reference",
            v(at_line8(
                r#"{ "leftOperand": "shipmentCustomer", "operator": "eq", "rightOperandReference": "purpose" }"#,
            )),
            same,
            LoadError {
                line: 8,
                column: 97,
                msg: "unknown rightOperandReference \"purpose\", expected \"partnerId\"",
                path: "/permission/0/constraint/0/rightOperandReference",
            },
        ),
        (
            "reference and operand",
            v(at_line8(
                r#"{ "leftOperand": "shipmentCustomer", "operator": "eq", "rightOperandReference": "partnerId", "rightOperand": "x" }"#,
            )),
            same,
            LoadError {
                line: 8,
                column: 122,
                msg: "either \"rightOperand\" or \"rightOperandReference\"",
                path: "/permission/0/constraint/0",
            },
        ),
        (
            "reference with a list operator",
            v(at_line8(
                r#"{ "leftOperand": "shipmentCustomer", "operator": "isAnyOf", "rightOperandReference": "partnerId" }"#,
            )),
            same,
            LoadError {
                line: 8,
                column: 106,
                msg: "compares a string operand with eq or neq, not shipmentCustomer isAnyOf",
                path: "/permission/0/constraint/0/rightOperandReference",
            },
        ),
    ]);
}
