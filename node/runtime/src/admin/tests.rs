//! The admin protocol: every command and answer survives the socket unchanged, and a
//! message of another protocol version is refused with both versions named.

use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use super::*;
use crate::directory::{DirAnswer, DirCommand, MemberState};

fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("sample")
}

fn card() -> NodeCard {
    NodeCard {
        company_id: "urn:tanso:company:steel".into(),
        name: "Steel".into(),
        public_key: "cHVibGlj".into(),
        key_id: "k1".into(),
        endpoint: "127.0.0.1:7000".into(),
        tls_fingerprint: "ab".repeat(32),
        previous_keys: Vec::new(),
        relay: Some("127.0.0.1:7100".into()),
        signature: "c2ln".into(),
    }
}

fn credential() -> MembershipCredential {
    from_json(json!({
        "associationId": "urn:tanso:association:a", "directoryKeyId": "dk", "serial": 3,
        "companyId": "urn:tanso:company:steel", "name": "Steel", "publicKey": "cHVi",
        "keyId": "k1", "endpoint": "127.0.0.1:7000", "tlsFingerprint": "ab",
        "suppliesProducts": ["urn:p:coil"], "suppliesClassifications": ["urn:hs:7208"],
        "buysClassifications": [], "issuedAt": "2026-01-01T00:00:00Z",
        "expiresAt": "2027-01-01T00:00:00Z", "signature": "c2ln"
    }))
}

fn directory_card() -> crate::directory::DirectoryCard {
    from_json(json!({
        "associationId": "urn:tanso:association:a", "name": "A", "publicKey": "cHVi",
        "keyId": "dk", "endpoint": "127.0.0.1:7200", "tlsFingerprint": "cd", "signature": "c2ln"
    }))
}

fn status_list() -> crate::directory::StatusList {
    from_json(json!({
        "associationId": "urn:tanso:association:a", "serial": 2,
        "issuedAt": "2026-01-01T00:00:00Z", "revoked": ["urn:tanso:company:gone"],
        "signature": "c2ln"
    }))
}

fn outgoing() -> OutgoingRequest {
    from_json(json!({
        "id": "r1", "to": "urn:tanso:company:steel", "productIds": ["urn:p:coil"],
        "classifications": [], "comment": "for our LCA", "purpose": "lca",
        "status": "fulfilled", "footprintIds": ["f1"], "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-02T00:00:00Z"
    }))
}

fn incoming() -> IncomingRequest {
    from_json(json!({
        "id": "r1", "from": "urn:tanso:company:oem", "productIds": ["urn:p:coil"],
        "classifications": [], "comment": "", "status": "rejected",
        "answer": {"outcome": "rejected", "reason": "not yet"},
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-02T00:00:00Z"
    }))
}

fn document() -> Document {
    serde_json::value::to_raw_value(&json!({
        "id": "f1", "pcf": {"pCfExcludingBiogenicUptake": "1.25"},
        "extensions": [{"dataSchema": "urn:sig", "data": {"signature": "c2ln"}}]
    }))
    .expect("document")
}

/// One of each command, and the number of variants they cover (a new variant fails to
/// compile here until it has a sample).
fn commands() -> Vec<Command> {
    let trust = crate::pact_api::trust::TrustSpec {
        fingerprint: Some("ab".into()),
        ca_pem: None,
    };
    vec![
        Command::Id,
        Command::Publish { text: "{}".into() },
        Command::PublishStream,
        Command::Update {
            id: "f1".into(),
            text: "{}".into(),
        },
        Command::FootprintList,
        Command::FootprintShow { id: "f1".into() },
        Command::Deprecate { id: "f1".into() },
        Command::PartnerAdd {
            card: "{}".into(),
            groups: vec!["customer".into()],
            replace: true,
        },
        Command::PartnerList,
        Command::PartnerRemove {
            company_id: "urn:c".into(),
        },
        Command::PolicyAdd {
            name: "p.odrl".into(),
            source: "policy".into(),
        },
        Command::PolicyList,
        Command::PolicyRemove { uid: "u".into() },
        Command::PolicyExplain {
            partner: "urn:c".into(),
            product_id: "urn:p".into(),
            purpose: Some("lca".into()),
        },
        Command::Fetch {
            from: "urn:c".into(),
            product_ids: vec!["urn:p".into()],
            id: None,
            purpose: None,
        },
        Command::PactPull {
            base: "https://h:1".into(),
            trust: trust.clone(),
            client_id: "id".into(),
            client_secret: "secret".into(),
            query: vec![("productId".into(), "urn:p".into())],
        },
        Command::PactRequest {
            base: "https://h:1".into(),
            trust,
            client_id: "id".into(),
            client_secret: "secret".into(),
            company_id: Some("urn:c".into()),
            product_ids: vec!["urn:p".into()],
            classifications: Vec::new(),
            comment: "c".into(),
        },
        Command::InboxList,
        Command::InboxShow { id: "f1".into() },
        Command::InboxExport,
        Command::InboxSuppliers,
        Command::KpiMeasures {
            config: "kpi".into(),
            name: "kpi.toml".into(),
        },
        Command::AuditVerify {
            archives: vec!["/a/segment.jsonl".into()],
        },
        Command::AuditExport,
        Command::AuditArchive {
            before: "2026-01-01T00:00:00Z".into(),
            out: "/a/out.jsonl".into(),
        },
        Command::RequestSend {
            to: "urn:c".into(),
            product_ids: vec!["urn:p".into()],
            classifications: vec!["urn:hs:7208".into()],
            comment: "c".into(),
            purpose: Some("lca".into()),
        },
        Command::RequestList,
        Command::RequestShow { id: "r1".into() },
        Command::RequestStatus { id: "r1".into() },
        Command::RequestFulfil {
            id: "r1".into(),
            footprint_ids: vec!["f1".into()],
        },
        Command::RequestReject {
            id: "r1".into(),
            reason: "no".into(),
        },
        Command::KeyRotate,
        Command::KeyShow,
        Command::Subscribe {
            to: "urn:c".into(),
            product_ids: vec!["urn:p".into()],
            unsubscribe: true,
        },
        Command::DirectoryTrust { card: "{}".into() },
        Command::DirectoryJoin {
            facts: Some(crate::directory::client::JoinFacts {
                supplies_products: vec!["urn:p".into()],
                ..Default::default()
            }),
        },
        Command::DirectoryList,
        Command::DirectoryFind {
            company_id: None,
            product_id: Some("urn:p".into()),
            classification: None,
        },
    ]
}

fn command_index(command: &Command) -> usize {
    match command {
        Command::Id => 0,
        Command::Publish { .. } => 1,
        Command::PublishStream => 2,
        Command::Update { .. } => 3,
        Command::FootprintList => 4,
        Command::FootprintShow { .. } => 5,
        Command::Deprecate { .. } => 6,
        Command::PartnerAdd { .. } => 7,
        Command::PartnerList => 8,
        Command::PartnerRemove { .. } => 9,
        Command::PolicyAdd { .. } => 10,
        Command::PolicyList => 11,
        Command::PolicyRemove { .. } => 12,
        Command::PolicyExplain { .. } => 13,
        Command::Fetch { .. } => 14,
        Command::PactPull { .. } => 15,
        Command::PactRequest { .. } => 16,
        Command::InboxList => 17,
        Command::InboxShow { .. } => 18,
        Command::InboxExport => 19,
        Command::InboxSuppliers => 20,
        Command::KpiMeasures { .. } => 21,
        Command::AuditVerify { .. } => 22,
        Command::AuditExport => 23,
        Command::AuditArchive { .. } => 24,
        Command::RequestSend { .. } => 25,
        Command::RequestList => 26,
        Command::RequestShow { .. } => 27,
        Command::RequestStatus { .. } => 28,
        Command::RequestFulfil { .. } => 29,
        Command::RequestReject { .. } => 30,
        Command::KeyRotate => 31,
        Command::KeyShow => 32,
        Command::Subscribe { .. } => 33,
        Command::DirectoryTrust { .. } => 34,
        Command::DirectoryJoin { .. } => 35,
        Command::DirectoryList => 36,
        Command::DirectoryFind { .. } => 37,
    }
}
const N_COMMANDS: usize = 38;

/// One of each answer (see [`commands`]).
fn answers() -> Vec<Answer> {
    let mut outcome = PublishOutcome::default();
    outcome.ids.push("f1");
    outcome.ids.push("f2");
    outcome.deprecated.push("f0");
    outcome.notes.push("dropped a field".into());
    vec![
        Answer::Card(card()),
        Answer::Published(outcome),
        Answer::Footprints(vec![FootprintSummary {
            id: "f1".into(),
            status: Status::Active,
            product_ids: vec!["urn:p".into()],
            product_name_company: "Coil".into(),
            preceding_pf_ids: None,
            published_at: "2026-01-01T00:00:00Z".into(),
        }]),
        Answer::Footprint(document()),
        Answer::Deprecated(Deprecated {
            deprecated: "f1".into(),
        }),
        Answer::PartnerAdded(PartnerAdded {
            added: "urn:c".into(),
            name: "C".into(),
        }),
        Answer::Partners(vec![PartnerRecord {
            card: card(),
            groups: vec!["customer".into()],
            added_at: "2026-01-01T00:00:00Z".into(),
        }]),
        Answer::Removed(Removed {
            removed: "urn:c".into(),
        }),
        Answer::PolicyAdded(PolicyAdded { added: "u".into() }),
        Answer::Policies(vec![PolicySummary {
            uid: "u".into(),
            source: "p.odrl".into(),
            added_at: "2026-01-01T00:00:00Z".into(),
        }]),
        Answer::Explanation("permit: rule 1".into()),
        Answer::Fetched(Fetched {
            footprints: vec![document()],
            withheld: vec!["f9".into()],
        }),
        Answer::Pulled(PullReport {
            stored: vec![("f1".into(), SignatureStatus::Verified)],
            refused: vec!["f2: bad".into()],
            pages: 2,
        }),
        Answer::Outgoing(outgoing()),
        Answer::Incoming(incoming()),
        Answer::Requests(RequestList {
            outgoing: vec![outgoing()],
            incoming: vec![incoming()],
        }),
        Answer::Request(RequestShown {
            outgoing: Some(outgoing()),
            incoming: None,
        }),
        Answer::RequestStatus(RequestStatus {
            id: "r1".into(),
            side: Side::Incoming,
            to: None,
            from: Some("urn:c".into()),
            status: RequestState::Rejected,
            footprint_ids: Vec::new(),
            reason: Some("not yet".into()),
        }),
        Answer::Inbox(vec![InboxSummary {
            id: "f1".into(),
            from: "urn:c".into(),
            provenance: "node:urn:c".into(),
            view: "full".into(),
            signature: SignatureStatus::Verified,
            findings: 1,
            received_at: "2026-01-01T00:00:00Z".into(),
            product_ids: vec!["urn:p".into()],
            status: Status::Active,
            superseded_by: None,
        }]),
        Answer::InboxEntry(from_json(json!({
            "id": "f1", "document": {"id": "f1"}, "view": "full", "provenance": "node:urn:c",
            "fromCompany": "urn:c", "receivedAt": "2026-01-01T00:00:00Z",
            "signatureStatus": "verified", "findings": ["a finding"], "productIds": ["urn:p"],
            "status": "Deprecated", "supersededBy": "f2"
        }))),
        Answer::Documents(vec![document(), document()]),
        Answer::Suppliers(vec![from_json(json!({
            "footprint_id": "f1", "company_id": "urn:c", "product_ids": ["urn:p"],
            "declared_unit": "kilogram", "declared_unit_amount": "1",
            "pcf_excluding_biogenic_uptake": "1.25", "primary_data_share": "50",
            "reference_period_end": "2025-12-31T00:00:00Z", "status_active": true,
            "ipcc_characterization_factors": ["AR6"], "geography_country": "KR"
        }))]),
        Answer::KpiMeasures(vec![(
            "2026-01".into(),
            "footprints_published".into(),
            "3".into(),
        )]),
        Answer::AuditChain(ChainReport {
            entries: 10,
            archived: 4,
            ok: false,
            problems: vec!["seq 5: hash".into()],
        }),
        Answer::AuditHistory(from_json(json!({
            "entries": 10, "stored": 6, "ok": true, "problems": [],
            "segments": [{"file": "/a/s.jsonl", "first_seq": 0, "last_seq": 3, "entries": 4}]
        }))),
        Answer::AuditExport("{\"seq\":0}\n".into()),
        Answer::Archived(ArchiveOutcome {
            archived: 4,
            first_seq: Some(0),
            last_seq: Some(3),
            file: Some("/a/s.jsonl".into()),
            archived_total: 4,
            remaining: 6,
        }),
        Answer::KeyRotated(KeyRotated {
            rotation: RotationOutcome {
                company_id: "urn:c".into(),
                old_key_id: "k1".into(),
                new_key_id: "k2".into(),
                rotated_at: "2026-01-01T00:00:00Z".into(),
                partners_notified: 2,
            },
            directories: Some(Rejoined::Error("unreachable".into())),
        }),
        Answer::Key(KeyShown {
            key_id: "k2".into(),
            encrypted: true,
            previous_keys: vec![RetiredKey {
                key_id: "k1".into(),
                retired_at: "2026-01-01T00:00:00Z".into(),
            }],
        }),
        Answer::Subscription(Subscription {
            subscribed: None,
            unsubscribed: Some(vec!["urn:p".into()]),
            to: "urn:c".into(),
        }),
        Answer::DirectoryTrusted(DirectoryTrusted {
            trusted: "urn:tanso:association:a".into(),
            name: "A".into(),
            key_id: "dk".into(),
        }),
        Answer::Joined(vec![Joined {
            association_id: "urn:tanso:association:a".into(),
            state: MemberState::Approved,
            credential: Some(credential()),
        }]),
        Answer::Directories(vec![TrustedDirectory {
            card: directory_card(),
            credential: Some(credential()),
            status_list: Some(status_list()),
            application: None,
            trusted_at: "2026-01-01T00:00:00Z".into(),
        }]),
        Answer::Found(vec![FoundMember {
            association_id: "urn:tanso:association:a".into(),
            credential: credential(),
        }]),
    ]
}

fn answer_index(answer: &Answer) -> usize {
    match answer {
        Answer::Card(_) => 0,
        Answer::Published(_) => 1,
        Answer::Footprints(_) => 2,
        Answer::Footprint(_) => 3,
        Answer::Deprecated(_) => 4,
        Answer::PartnerAdded(_) => 5,
        Answer::Partners(_) => 6,
        Answer::Removed(_) => 7,
        Answer::PolicyAdded(_) => 8,
        Answer::Policies(_) => 9,
        Answer::Explanation(_) => 10,
        Answer::Fetched(_) => 11,
        Answer::Pulled(_) => 12,
        Answer::Outgoing(_) => 13,
        Answer::Incoming(_) => 14,
        Answer::Requests(_) => 15,
        Answer::Request(_) => 16,
        Answer::RequestStatus(_) => 17,
        Answer::Inbox(_) => 18,
        Answer::InboxEntry(_) => 19,
        Answer::Documents(_) => 20,
        Answer::Suppliers(_) => 21,
        Answer::KpiMeasures(_) => 22,
        Answer::AuditChain(_) => 23,
        Answer::AuditHistory(_) => 24,
        Answer::AuditExport(_) => 25,
        Answer::Archived(_) => 26,
        Answer::KeyRotated(_) => 27,
        Answer::Key(_) => 28,
        Answer::Subscription(_) => 29,
        Answer::DirectoryTrusted(_) => 30,
        Answer::Joined(_) => 31,
        Answer::Directories(_) => 32,
        Answer::Found(_) => 33,
    }
}
const N_ANSWERS: usize = 34;

fn covers(indices: impl Iterator<Item = usize>, n: usize) {
    let mut seen = vec![false; n];
    for i in indices {
        seen[i] = true;
    }
    let missing: Vec<usize> = (0..n).filter(|i| !seen[*i]).collect();
    assert!(missing.is_empty(), "no sample of variants {missing:?}");
}

/// The JSON a value serialises to, keys ordered (what the CLI prints).
fn printed(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(&serde_json::to_value(value).expect("to value")).expect("json")
}

#[test]
fn every_command_round_trips_through_a_request_line() {
    let commands = commands();
    covers(commands.iter().map(command_index), N_COMMANDS);
    for command in &commands {
        let line = request_line(command).expect("request line");
        let line = std::str::from_utf8(&line).expect("utf-8");
        assert!(
            line.ends_with('\n') && !line.trim_end().contains('\n'),
            "{line}"
        );
        assert!(
            line.starts_with(&format!("{{\"version\":{PROTOCOL_VERSION},")),
            "{line}"
        );
        let back: Command = parse_request(line).expect("parses");
        assert_eq!(command_index(&back), command_index(command));
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(command).unwrap()
        );
    }
}

#[test]
fn every_answer_round_trips_through_an_answer_line() {
    let answers = answers();
    covers(answers.iter().map(answer_index), N_ANSWERS);
    for answer in &answers {
        let line = reply_line(Ok(answer));
        let back: Answer = parse_reply(std::str::from_utf8(&line).expect("utf-8")).expect("parses");
        assert_eq!(answer_index(&back), answer_index(answer));
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(answer).unwrap()
        );
        // What the CLI prints is the same whichever way the answer came.
        assert_eq!(printed(&back), printed(answer));
    }
}

/// Answers carrying statuses, signature statuses, member states and pull results are the
/// JSON they were when those were strings (protocol version unchanged).
#[test]
fn statuses_are_answered_as_the_text_they_always_were() {
    let answers = answers();
    let json = |wanted: usize| {
        let answer = answers.iter().find(|a| answer_index(a) == wanted).unwrap();
        serde_json::to_string(answer).unwrap()
    };
    assert_eq!(
        json(2),
        r#"{"footprints":[{"id":"f1","status":"Active","productIds":["urn:p"],"productNameCompany":"Coil","precedingPfIds":null,"publishedAt":"2026-01-01T00:00:00Z"}]}"#
    );
    assert_eq!(
        json(12),
        r#"{"pulled":{"stored":[["f1","verified"]],"refused":["f2: bad"],"pages":2}}"#
    );
    assert_eq!(
        json(17),
        r#"{"request_status":{"id":"r1","side":"incoming","from":"urn:c","status":"rejected","footprintIds":[],"reason":"not yet"}}"#
    );
    assert_eq!(
        json(18),
        r#"{"inbox":[{"id":"f1","from":"urn:c","provenance":"node:urn:c","view":"full","signature":"verified","findings":1,"receivedAt":"2026-01-01T00:00:00Z","productIds":["urn:p"],"status":"Active","supersededBy":null}]}"#
    );
    for (value, stored) in [
        (serde_json::to_value(outgoing()).unwrap(), "fulfilled"),
        (serde_json::to_value(incoming()).unwrap(), "rejected"),
    ] {
        assert_eq!(value["status"], stored);
    }
    let joined = Joined {
        association_id: "urn:a".into(),
        state: MemberState::Revoked,
        credential: None,
    };
    assert_eq!(
        serde_json::to_string(&joined).unwrap(),
        r#"{"associationId":"urn:a","state":"revoked"}"#
    );
}

#[test]
fn a_document_is_passed_through_and_printed_as_the_json_it_is() {
    let Answer::Footprint(document) = parse_reply::<Answer>(
        std::str::from_utf8(&reply_line(Ok(&Answer::Footprint(document())))).unwrap(),
    )
    .unwrap() else {
        panic!("not a footprint")
    };
    let value: serde_json::Value = serde_json::from_str(document.get()).unwrap();
    assert_eq!(value["pcf"]["pCfExcludingBiogenicUptake"], "1.25");
    assert_eq!(
        printed(&document),
        serde_json::to_string_pretty(&value).unwrap()
    );
}

#[test]
fn every_directory_command_and_answer_round_trips() {
    for command in [
        DirCommand::Card,
        DirCommand::Approve {
            company_id: "urn:c".into(),
        },
        DirCommand::Revoke {
            company_id: "urn:c".into(),
        },
        DirCommand::Members,
        DirCommand::Status,
    ] {
        let line = request_line(&command).unwrap();
        let back: DirCommand = parse_request(std::str::from_utf8(&line).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&command).unwrap()
        );
    }
    let member: crate::directory::server::MemberSummary = from_json(json!({
        "companyId": "urn:c", "name": "C", "state": "approved", "keyId": "k1",
        "endpoint": "127.0.0.1:1", "suppliesProducts": [], "suppliesClassifications": [],
        "buysClassifications": ["urn:hs:7208"], "serial": 3,
        "expiresAt": "2027-01-01T00:00:00Z"
    }));
    for answer in [
        DirAnswer::Card(directory_card()),
        DirAnswer::Credential(credential()),
        DirAnswer::StatusList(status_list()),
        DirAnswer::Members(vec![member]),
    ] {
        let line = reply_line(Ok(&answer));
        let back: DirAnswer = parse_reply(std::str::from_utf8(&line).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&answer).unwrap()
        );
    }
}

#[test]
fn a_request_of_another_version_is_refused_naming_both_versions() {
    let other = PROTOCOL_VERSION + 1;
    let line = format!(r#"{{"version":{other},"command":{{"op":"id"}}}}"#);
    let refused = parse_request::<Command>(&line).expect_err("another version");
    assert!(
        refused.starts_with("admin protocol version mismatch")
            && refused.contains(&format!("the request is version {other}"))
            && refused.contains(&format!("speaks version {PROTOCOL_VERSION}")),
        "{refused}"
    );
    // A request of a release before versions (a bare command) is version 0.
    let refused = parse_request::<Command>(r#"{"op":"id"}"#).expect_err("no version");
    assert!(
        refused.contains("the request is version 0")
            && refused.contains(&format!("speaks version {PROTOCOL_VERSION}")),
        "{refused}"
    );
    // Refused before the command is read: a command of the other version's shape is not
    // misread as one of ours.
    let line = format!(r#"{{"version":{other},"command":{{"op":"no_such_op"}}}}"#);
    assert!(
        parse_request::<Command>(&line)
            .expect_err("refused")
            .contains("version mismatch")
    );
}

#[test]
fn an_answer_of_another_version_is_refused_naming_both_versions() {
    let other = PROTOCOL_VERSION + 1;
    let line = format!(r#"{{"version":{other},"ok":{{"explanation":"permit"}}}}"#);
    let refused = parse_reply::<Answer>(&line).expect_err("another version");
    assert!(
        matches!(refused, AdminError::Version { theirs, ours } if theirs == other && ours == PROTOCOL_VERSION),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(
        message.starts_with("admin protocol version mismatch")
            && message.contains(&format!("the answer is version {other}"))
            && message.contains(&format!("speaks version {PROTOCOL_VERSION}")),
        "{message}"
    );
    // A node of a release before versions answers `{"error": ...}` to a versioned request.
    let refused = parse_reply::<Answer>(r#"{"error":"bad admin request: missing field `op`"}"#)
        .expect_err("no version");
    assert!(
        matches!(refused, AdminError::Version { theirs: 0, .. }),
        "{refused:?}"
    );
}

#[test]
fn an_error_answer_is_the_servers_message() {
    let line = reply_line::<Answer>(Err("unknown partner urn:c"));
    let refused = parse_reply::<Answer>(std::str::from_utf8(&line).unwrap()).expect_err("error");
    assert!(matches!(&refused, AdminError::Refused(m) if m == "unknown partner urn:c"));
    assert_eq!(refused.to_string(), "unknown partner urn:c");
}

#[tokio::test]
async fn a_line_over_the_cap_is_not_read_whole() {
    let mut long: &[u8] = b"0123456789\n";
    assert_eq!(read_line_capped(&mut long, 8).await.unwrap(), None);
    let mut fits: &[u8] = b"0123456789\nnext";
    assert_eq!(
        read_line_capped(&mut fits, 11).await.unwrap().as_deref(),
        Some("0123456789\n")
    );
}

/// Over a real socket: a client of another version gets the refusal as its answer, and the
/// command never runs.
#[tokio::test]
async fn the_socket_refuses_a_request_of_another_version_before_running_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let listener = bind(&path).unwrap();
    let cancel = CancellationToken::new();
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = ran.clone();
    let served = tokio::spawn(serve_json(
        listener,
        cancel.clone(),
        move |_: DirCommand| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, String>(DirAnswer::StatusList(status_list()))
            }
        },
    ));

    let mut stream = UnixStream::connect(&path).await.unwrap();
    let other = PROTOCOL_VERSION + 1;
    stream
        .write_all(
            format!("{{\"version\":{other},\"command\":{{\"op\":\"status\"}}}}\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await.unwrap();
    let refused = parse_reply::<DirAnswer>(&line).expect_err("refused");
    let message = refused.to_string();
    assert!(
        message.contains(&format!("the request is version {other}"))
            && message.contains(&format!("speaks version {PROTOCOL_VERSION}")),
        "{message}"
    );
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);

    // The same command in this version runs and answers.
    let answer: DirAnswer = call_json(&path, &DirCommand::Status)
        .await
        .expect("listening")
        .expect("answered");
    assert!(matches!(answer, DirAnswer::StatusList(_)));
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
    cancel.cancel();
    served.await.unwrap();
}
