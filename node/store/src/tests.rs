//! Tests of the store facade: every domain operation, run against both engines (redb and sled).

use std::path::Path;
use std::slice;

use serde_json::json;

use super::domain::journal_ops;
use super::{
    EngineKind, InboxEntry, OwnFootprint, PartnerRecord, PolicyRecord, SigRecord, SignatureStatus,
    Store, StoreError, Table,
};
use tanso_model::card::NodeCard;
use tanso_model::pact::{ProductFootprint, Status};

const V3_EXAMPLE: &str = include_str!("../../testdata/v3-productfootprint-bioethanol-kg.json");

/// Runs each listed `fn(EngineKind)` once per engine: `redb::name` and `sled::name`.
macro_rules! engine_tests {
    ($($name:ident),+ $(,)?) => {
        mod redb {
            $(
                #[test]
                fn $name() {
                    super::$name(super::EngineKind::Redb)
                }
            )+
        }
        mod sled {
            $(
                #[test]
                fn $name() {
                    super::$name(super::EngineKind::Sled)
                }
            )+
        }
    };
}

engine_tests! {
    publish_and_read_by_id_product_and_status,
    publish_with_existing_id_stores_nothing,
    publish_with_id_twice_in_one_batch_stores_nothing,
    deprecate_moves_status_index_atomically,
    deprecate_already_deprecated_conflicts_and_changes_nothing,
    deprecate_missing_is_not_found_and_stores_nothing,
    own_footprints_page_in_id_order,
    inbox_put_get_list_and_replace,
    partners_put_get_list_remove,
    policies_put_list_remove,
    journal_audit_meta_nonces_daily,
    nonces_are_time_ordered_and_legacy_keys_are_upgraded_on_open,
    empty_store_reads,
    counts_and_everything_survive_reopen,
    second_open_while_open_fails,
    a_store_larger_than_its_cache_reads_back_whole,
    decoded_cache_is_shared_byte_capped_and_coherent,
    publish_encoded_stores_what_publish_batch_stores,
    audit_snapshot_reads_one_state_while_batches_land,
    audit_removal_is_one_atomic_batch_checked_against_the_anchor,
    streamed_publish_is_unseen_until_its_commit_then_whole,
    aborted_streamed_publish_leaves_the_store_as_it_was,
    streamed_publish_cut_short_is_rolled_back_at_open,
    committed_streamed_publish_is_finished_at_open,
    a_failed_commit_that_reached_the_disk_does_not_lend_its_id,
}

// === helpers ===

fn open(dir: &Path, kind: EngineKind) -> Store {
    let store = Store::open(dir, kind).unwrap();
    assert_eq!(store.engine_kind(), kind);
    store
}

fn footprint(id: &str, product_ids: &[&str]) -> ProductFootprint {
    let mut doc: serde_json::Value = serde_json::from_str(V3_EXAMPLE).unwrap();
    doc["id"] = json!(id);
    doc["productIds"] = json!(product_ids);
    serde_json::from_value(doc).unwrap()
}

fn sig(view: &str) -> SigRecord {
    SigRecord {
        alg: "Ed25519".to_string(),
        key_id: "key-1".to_string(),
        public_key: "cHVibGljLWtleQ".to_string(),
        company_id: "urn:company:example:company1".to_string(),
        view: view.to_string(),
        signature: format!("sig-{view}"),
    }
}

fn own(id: &str, product_ids: &[&str]) -> OwnFootprint {
    OwnFootprint {
        footprint: footprint(id, product_ids),
        sig_full: sig("full"),
        sig_summary: sig("summary"),
        published_at: "2025-05-01T00:00:00Z".to_string(),
    }
}

/// The earlier version `of`, re-signed with status Deprecated at `at`.
fn deprecated(of: &OwnFootprint, at: &str) -> OwnFootprint {
    let mut d = of.clone();
    d.footprint.status = Status::Deprecated;
    d.sig_full.signature = format!("sig-full-deprecated-{at}");
    d.sig_summary.signature = format!("sig-summary-deprecated-{at}");
    d.published_at = at.to_string();
    d
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn page_ids(page: &[OwnFootprint]) -> Vec<String> {
    page.iter().map(|o| o.footprint.id.clone()).collect()
}

fn inbox_entry(id: &str, status: SignatureStatus, product_ids: &[&str]) -> InboxEntry {
    InboxEntry {
        id: id.to_string(),
        document: json!({ "id": id, "status": "Active" }),
        view: "full".to_string(),
        provenance: "node:urn:company:example:supplier".to_string(),
        from_company: "urn:company:example:supplier".to_string(),
        received_at: "2025-05-02T10:00:00Z".to_string(),
        signature_status: status,
        findings: vec![format!("finding for {id}")],
        product_ids: strings(product_ids),
        status: Status::Active,
        superseded_by: None,
    }
}

fn partner(company_id: &str, name: &str, groups: &[&str]) -> PartnerRecord {
    PartnerRecord {
        card: NodeCard {
            previous_keys: Vec::new(),
            company_id: company_id.to_string(),
            name: name.to_string(),
            public_key: "cHVibGljLWtleQ".to_string(),
            key_id: format!("key-{name}"),
            endpoint: "127.0.0.1:7443".to_string(),
            tls_fingerprint: "00".repeat(32),
            relay: None,
            signature: String::new(),
        },
        groups: strings(groups),
        added_at: "2025-05-03T00:00:00Z".to_string(),
    }
}

fn policy(uid: &str, source: &str) -> PolicyRecord {
    PolicyRecord {
        uid: uid.to_string(),
        source_name: format!("{uid}.toml"),
        source: source.to_string(),
        added_at: "2025-05-04T00:00:00Z".to_string(),
    }
}

/// Counts of the five own-footprint tables: footprints, by product, company, classification, status.
fn own_counts(store: &Store) -> [u64; 5] {
    [
        store.count(Table::Footprints).unwrap(),
        store.count(Table::FootprintsByProduct).unwrap(),
        store.count(Table::FootprintsByCompany).unwrap(),
        store.count(Table::FootprintsByClassification).unwrap(),
        store.count(Table::FootprintsByStatus).unwrap(),
    ]
}

const A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const B: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const C: &str = "cccccccc-0000-4000-8000-000000000003";
const D: &str = "dddddddd-0000-4000-8000-000000000004";

// === own footprints ===

fn publish_and_read_by_id_product_and_status(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let a = own(
        &A.to_ascii_uppercase(),
        &["urn:gtin:ABC", "urn:gtin:shared"],
    );
    let b = own(B, &["urn:gtin:Shared"]);
    {
        let store = open(dir.path(), kind);
        store.publish_batch(&[a.clone(), b.clone()], &[]).unwrap();

        // By id, whatever the case of the id asked for or stored.
        assert_eq!(store.own_footprint(A).unwrap(), Some(a.clone()));
        assert_eq!(
            store.own_footprint(&A.to_ascii_uppercase()).unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            store.own_footprint(&B.to_ascii_uppercase()).unwrap(),
            Some(b.clone())
        );
        assert_eq!(store.own_footprint(C).unwrap(), None);

        // By product id, case-insensitive; the index holds lowercase ids in id order.
        assert_eq!(
            store.own_ids_by_product("urn:gtin:abc").unwrap(),
            strings(&[A])
        );
        assert_eq!(
            store.own_ids_by_product("URN:GTIN:ABC").unwrap(),
            strings(&[A])
        );
        assert_eq!(
            store.own_ids_by_product("urn:gtin:SHARED").unwrap(),
            strings(&[A, B])
        );
        // A prefix of a product id is not that product id.
        assert!(store.own_ids_by_product("urn:gtin:ab").unwrap().is_empty());
        assert!(
            store
                .own_ids_by_product("urn:gtin:other")
                .unwrap()
                .is_empty()
        );

        // By status.
        assert_eq!(
            store.own_ids_by_status(Status::Active).unwrap(),
            strings(&[A, B])
        );
        assert!(
            store
                .own_ids_by_status(Status::Deprecated)
                .unwrap()
                .is_empty()
        );

        // 2 footprints, 3 product index rows, 1 company and 1 classification row each, 2 status rows.
        assert_eq!(own_counts(&store), [2, 3, 2, 2, 2]);
    }

    let store = open(dir.path(), kind);
    assert_eq!(store.own_footprint(A).unwrap(), Some(a));
    assert_eq!(store.own_footprint(B).unwrap(), Some(b));
    assert_eq!(
        store.own_ids_by_product("urn:gtin:shared").unwrap(),
        strings(&[A, B])
    );
    assert_eq!(
        store.own_ids_by_status(Status::Active).unwrap(),
        strings(&[A, B])
    );
    assert_eq!(own_counts(&store), [2, 3, 2, 2, 2]);
}

fn publish_with_existing_id_stores_nothing(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let a = own(A, &["urn:gtin:a"]);
    {
        let store = open(dir.path(), kind);
        store.publish_batch(slice::from_ref(&a), &[]).unwrap();

        // B and C are new, but the batch also carries A again (in another case): nothing is stored.
        let mut a_again = own(&A.to_ascii_uppercase(), &["urn:gtin:a2"]);
        a_again.published_at = "2025-06-01T00:00:00Z".to_string();
        let err = store
            .publish_batch(
                &[own(B, &["urn:gtin:b"]), a_again, own(C, &["urn:gtin:c"])],
                &[],
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains(A), "{err}");

        assert_eq!(store.own_footprint(B).unwrap(), None);
        assert_eq!(store.own_footprint(C).unwrap(), None);
        assert_eq!(store.own_footprint(A).unwrap(), Some(a.clone()));
        assert!(store.own_ids_by_product("urn:gtin:b").unwrap().is_empty());
        assert!(store.own_ids_by_product("urn:gtin:c").unwrap().is_empty());
        assert!(store.own_ids_by_product("urn:gtin:a2").unwrap().is_empty());
        assert_eq!(
            store.own_ids_by_status(Status::Active).unwrap(),
            strings(&[A])
        );
        assert_eq!(own_counts(&store), [1, 1, 1, 1, 1]);
    }

    let store = open(dir.path(), kind);
    assert_eq!(store.own_footprint(A).unwrap(), Some(a));
    assert_eq!(store.own_footprint(B).unwrap(), None);
    assert_eq!(store.own_footprint(C).unwrap(), None);
    assert_eq!(own_counts(&store), [1, 1, 1, 1, 1]);
}

fn publish_with_id_twice_in_one_batch_stores_nothing(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), kind);
    let err = store
        .publish_batch(
            &[
                own(B, &["urn:gtin:b"]),
                own(D, &["urn:gtin:d"]),
                own(&D.to_ascii_uppercase(), &["urn:gtin:d2"]),
            ],
            &[],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.own_footprint(B).unwrap(), None);
    assert_eq!(store.own_footprint(D).unwrap(), None);
    assert_eq!(own_counts(&store), [0, 0, 0, 0, 0]);
}

fn deprecate_moves_status_index_atomically(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let a = own(A, &["urn:gtin:x"]);
    let b = own(B, &["urn:gtin:x"]);
    let a_dep = deprecated(&a, "2025-06-01T00:00:00Z");
    {
        let store = open(dir.path(), kind);
        store.publish_batch(slice::from_ref(&a), &[]).unwrap();
        assert_eq!(
            store.own_ids_by_status(Status::Active).unwrap(),
            strings(&[A])
        );

        // The new version B and the deprecation of A in one batch.
        store
            .publish_batch(slice::from_ref(&b), slice::from_ref(&a_dep))
            .unwrap();

        assert_eq!(store.own_footprint(A).unwrap(), Some(a_dep.clone()));
        assert_eq!(store.own_footprint(B).unwrap(), Some(b.clone()));
        assert_eq!(
            store.own_ids_by_status(Status::Active).unwrap(),
            strings(&[B])
        );
        assert_eq!(
            store.own_ids_by_status(Status::Deprecated).unwrap(),
            strings(&[A])
        );
        // Both versions stay findable by product.
        assert_eq!(
            store.own_ids_by_product("urn:gtin:x").unwrap(),
            strings(&[A, B])
        );
        // One status row per footprint: the Active row of A is gone, not duplicated.
        assert_eq!(own_counts(&store), [2, 2, 2, 2, 2]);
    }

    let store = open(dir.path(), kind);
    assert_eq!(store.own_footprint(A).unwrap(), Some(a_dep));
    assert_eq!(
        store.own_ids_by_status(Status::Active).unwrap(),
        strings(&[B])
    );
    assert_eq!(
        store.own_ids_by_status(Status::Deprecated).unwrap(),
        strings(&[A])
    );
    assert_eq!(own_counts(&store), [2, 2, 2, 2, 2]);
}

fn deprecate_already_deprecated_conflicts_and_changes_nothing(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let a = own(A, &["urn:gtin:x"]);
    let b = own(B, &["urn:gtin:x"]);
    let a_dep = deprecated(&a, "2025-06-01T00:00:00Z");
    {
        let store = open(dir.path(), kind);
        store.publish_batch(slice::from_ref(&a), &[]).unwrap();
        store
            .publish_batch(slice::from_ref(&b), slice::from_ref(&a_dep))
            .unwrap();

        // A second deprecation of A (with a new version C) is refused as a whole.
        let a_dep_again = deprecated(&a, "2025-07-01T00:00:00Z");
        let err = store
            .publish_batch(&[own(C, &["urn:gtin:c"])], &[a_dep_again])
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains(A), "{err}");

        assert_eq!(store.own_footprint(A).unwrap(), Some(a_dep.clone()));
        assert_eq!(store.own_footprint(C).unwrap(), None);
        assert!(store.own_ids_by_product("urn:gtin:c").unwrap().is_empty());
        assert_eq!(
            store.own_ids_by_status(Status::Active).unwrap(),
            strings(&[B])
        );
        assert_eq!(
            store.own_ids_by_status(Status::Deprecated).unwrap(),
            strings(&[A])
        );
        assert_eq!(own_counts(&store), [2, 2, 2, 2, 2]);

        // Deprecating the same id twice within one batch is refused too, and B stays Active.
        let b_dep = deprecated(&b, "2025-07-01T00:00:00Z");
        let err = store
            .publish_batch(&[], &[b_dep.clone(), b_dep])
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(store.own_footprint(B).unwrap(), Some(b.clone()));
        assert_eq!(
            store.own_ids_by_status(Status::Active).unwrap(),
            strings(&[B])
        );
    }

    let store = open(dir.path(), kind);
    assert_eq!(store.own_footprint(A).unwrap(), Some(a_dep));
    assert_eq!(store.own_footprint(B).unwrap(), Some(b));
    assert_eq!(store.own_footprint(C).unwrap(), None);
    assert_eq!(own_counts(&store), [2, 2, 2, 2, 2]);
}

fn deprecate_missing_is_not_found_and_stores_nothing(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), kind);
    let a = own(A, &["urn:gtin:a"]);
    store.publish_batch(slice::from_ref(&a), &[]).unwrap();

    let missing = deprecated(&own(D, &["urn:gtin:d"]), "2025-06-01T00:00:00Z");
    let err = store
        .publish_batch(&[own(C, &["urn:gtin:c"])], &[missing])
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(err.to_string().contains(D), "{err}");

    assert_eq!(store.own_footprint(C).unwrap(), None);
    assert_eq!(store.own_footprint(D).unwrap(), None);
    assert_eq!(store.own_footprint(A).unwrap(), Some(a));
    assert!(
        store
            .own_ids_by_status(Status::Deprecated)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.own_ids_by_status(Status::Active).unwrap(),
        strings(&[A])
    );
    assert_eq!(own_counts(&store), [1, 1, 1, 1, 1]);

    // A valid deprecation next to a missing one is refused with it: A stays Active.
    let a_dep = deprecated(&own(A, &["urn:gtin:a"]), "2025-06-01T00:00:00Z");
    let missing = deprecated(&own(D, &["urn:gtin:d"]), "2025-06-01T00:00:00Z");
    let err = store.publish_batch(&[], &[a_dep, missing]).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(
        store.own_footprint(A).unwrap().unwrap().footprint.status,
        Status::Active
    );
    assert_eq!(
        store.own_ids_by_status(Status::Active).unwrap(),
        strings(&[A])
    );
    assert_eq!(own_counts(&store), [1, 1, 1, 1, 1]);
}

fn own_footprints_page_in_id_order(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), kind);
    // Published out of order, in two batches, one id in upper case.
    store
        .publish_batch(&[own("id-3", &["p"]), own("ID-1", &["p"])], &[])
        .unwrap();
    store
        .publish_batch(
            &[
                own("id-4", &["p"]),
                own("id-0", &["p"]),
                own("id-2", &["p"]),
            ],
            &[],
        )
        .unwrap();

    let all = store.own_footprints_page(None, 100).unwrap();
    assert_eq!(
        page_ids(&all),
        strings(&["id-0", "ID-1", "id-2", "id-3", "id-4"])
    );

    assert_eq!(
        page_ids(&store.own_footprints_page(None, 2).unwrap()),
        strings(&["id-0", "ID-1"])
    );
    // `after` is exclusive and case-insensitive.
    assert_eq!(
        page_ids(&store.own_footprints_page(Some("id-1"), 2).unwrap()),
        strings(&["id-2", "id-3"])
    );
    assert_eq!(
        page_ids(&store.own_footprints_page(Some("ID-2"), 2).unwrap()),
        strings(&["id-3", "id-4"])
    );
    assert_eq!(
        page_ids(&store.own_footprints_page(Some("id-3"), 10).unwrap()),
        strings(&["id-4"])
    );
    assert!(
        store
            .own_footprints_page(Some("id-4"), 10)
            .unwrap()
            .is_empty()
    );
    assert!(store.own_footprints_page(None, 0).unwrap().is_empty());
    // An `after` that is not a stored id starts at the next larger id.
    assert_eq!(
        page_ids(&store.own_footprints_page(Some("id-15"), 10).unwrap()),
        strings(&["id-2", "id-3", "id-4"])
    );
    assert_eq!(
        page_ids(&store.own_footprints_page(Some("a"), 1).unwrap()),
        strings(&["id-0"])
    );

    // Walking page by page visits every footprint once, in order.
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.own_footprints_page(after.as_deref(), 2).unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.footprint.id.clone());
        walked.extend(page_ids(&page));
    }
    assert_eq!(walked, page_ids(&all));
}

// === inbox ===

fn inbox_put_get_list_and_replace(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let x = inbox_entry(
        &B.to_ascii_uppercase(),
        SignatureStatus::Unsigned,
        &["urn:gtin:x"],
    );
    let y = inbox_entry(A, SignatureStatus::Verified, &["urn:gtin:y"]);
    let x2 = inbox_entry(B, SignatureStatus::BadSignature, &["urn:gtin:x"]);
    {
        let store = open(dir.path(), kind);
        assert!(store.inbox().unwrap().is_empty());
        store.put_inbox(&[x.clone(), y.clone()]).unwrap();

        assert_eq!(store.inbox_entry(B).unwrap(), Some(x.clone()));
        assert_eq!(
            store.inbox_entry(&A.to_ascii_uppercase()).unwrap(),
            Some(y.clone())
        );
        assert_eq!(store.inbox_entry(C).unwrap(), None);
        // Listed in (lowercase) id order.
        assert_eq!(store.inbox().unwrap(), vec![y.clone(), x.clone()]);
        assert_eq!(store.count(Table::Inbox).unwrap(), 2);

        // The same id again replaces the earlier copy.
        store.put_inbox(slice::from_ref(&x2)).unwrap();
        assert_eq!(store.inbox_entry(B).unwrap(), Some(x2.clone()));
        assert_eq!(store.inbox().unwrap(), vec![y.clone(), x2.clone()]);
        assert_eq!(store.count(Table::Inbox).unwrap(), 2);
        assert_eq!(store.count(Table::InboxByProduct).unwrap(), 2);
        // Own footprints are untouched by the inbox.
        assert_eq!(store.count(Table::Footprints).unwrap(), 0);
    }

    let store = open(dir.path(), kind);
    assert_eq!(store.inbox().unwrap(), vec![y, x2]);
}

// === partners and policies ===

fn partners_put_get_list_remove(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let zed = partner("urn:company:example:Zed", "zed", &["customers"]);
    let acme = partner("URN:COMPANY:EXAMPLE:ACME", "acme", &["suppliers", "eu"]);
    let acme2 = partner("urn:company:example:acme", "acme-renamed", &["suppliers"]);
    {
        let store = open(dir.path(), kind);
        assert!(store.partners().unwrap().is_empty());
        store.put_partner(&zed).unwrap();
        store.put_partner(&acme).unwrap();

        assert_eq!(
            store.partner("urn:company:example:acme").unwrap(),
            Some(acme.clone())
        );
        assert_eq!(
            store.partner("URN:company:example:ZED").unwrap(),
            Some(zed.clone())
        );
        assert_eq!(store.partner("urn:company:example:nobody").unwrap(), None);
        // Listed in lowercase company id order.
        assert_eq!(store.partners().unwrap(), vec![acme.clone(), zed.clone()]);

        // The same company (in another case) replaces the record.
        store.put_partner(&acme2).unwrap();
        assert_eq!(
            store.partner("urn:company:example:ACME").unwrap(),
            Some(acme2.clone())
        );
        assert_eq!(store.partners().unwrap(), vec![acme2.clone(), zed.clone()]);
        assert_eq!(store.count(Table::Partners).unwrap(), 2);

        assert!(store.remove_partner("URN:COMPANY:EXAMPLE:ZED").unwrap());
        assert!(!store.remove_partner("urn:company:example:zed").unwrap());
        assert!(!store.remove_partner("urn:company:example:nobody").unwrap());
        assert_eq!(store.partner("urn:company:example:zed").unwrap(), None);
        assert_eq!(store.partners().unwrap(), vec![acme2.clone()]);
    }

    let store = open(dir.path(), kind);
    assert_eq!(store.partners().unwrap(), vec![acme2]);
    assert_eq!(store.count(Table::Partners).unwrap(), 1);
}

fn policies_put_list_remove(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let p2 = policy("policy-2", "allow = [\"customers\"]\n");
    let p1 = policy("policy-1", "allow = []\n");
    let p1b = policy("policy-1", "allow = [\"suppliers\"]\n");
    {
        let store = open(dir.path(), kind);
        assert!(store.policies().unwrap().is_empty());
        store.put_policy(&p2).unwrap();
        store.put_policy(&p1).unwrap();
        assert_eq!(store.policies().unwrap(), vec![p1.clone(), p2.clone()]);

        // Same uid replaces.
        store.put_policy(&p1b).unwrap();
        assert_eq!(store.policies().unwrap(), vec![p1b.clone(), p2.clone()]);
        assert_eq!(store.count(Table::Policies).unwrap(), 2);

        assert!(store.remove_policy("policy-2").unwrap());
        assert!(!store.remove_policy("policy-2").unwrap());
        assert!(!store.remove_policy("policy-9").unwrap());
        assert_eq!(store.policies().unwrap(), vec![p1b.clone()]);
    }

    let store = open(dir.path(), kind);
    assert_eq!(store.policies().unwrap(), vec![p1b]);
    assert_eq!(store.count(Table::Policies).unwrap(), 1);
}

// === journal: audit, meta, nonces, daily counts ===

fn journal_audit_meta_nonces_daily(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let entry = |seq: u64| format!("entry-{seq}").into_bytes();
    {
        let store = open(dir.path(), kind);
        let mut ops: Vec<_> = (1..=5)
            .map(|seq| journal_ops::audit(seq, entry(seq)))
            .collect();
        ops.push(journal_ops::meta("audit_head", b"head-5".to_vec()));
        ops.push(journal_ops::nonce("key-b", "00ff", 1_700_000_000_000));
        ops.push(journal_ops::nonce("key-a", "abcd", 1_700_000_000_001));
        ops.push(journal_ops::nonce("key-a", "0001", -5));
        ops.push(journal_ops::daily("URN:Company:X", "2025-05-01", 3));
        ops.push(journal_ops::daily("urn:company:x", "2025-05-02", 1));
        store.commit_journal(ops).unwrap();

        // A second batch: a sequence number past a byte boundary, a forgotten nonce, new values.
        store
            .commit_journal(vec![
                journal_ops::audit(256, entry(256)),
                journal_ops::meta("audit_head", b"head-256".to_vec()),
                journal_ops::forget_nonce("key-a", "abcd", 1_700_000_000_001),
                journal_ops::daily("urn:company:x", "2025-05-01", 4),
            ])
            .unwrap();

        let all = store.audit_entries(0, 100).unwrap();
        let expected: Vec<(u64, Vec<u8>)> = [1, 2, 3, 4, 5, 256]
            .into_iter()
            .map(|seq| (seq, entry(seq)))
            .collect();
        assert_eq!(all, expected);
        assert_eq!(
            store.audit_entries(3, 2).unwrap(),
            vec![(3, entry(3)), (4, entry(4))]
        );
        assert_eq!(store.audit_entries(6, 10).unwrap(), vec![(256, entry(256))]);
        assert!(store.audit_entries(257, 10).unwrap().is_empty());
        assert!(store.audit_entries(1, 0).unwrap().is_empty());
        assert_eq!(store.audit_last().unwrap(), Some((256, entry(256))));

        assert_eq!(
            store.meta("audit_head").unwrap(),
            Some(b"head-256".to_vec())
        );
        assert_eq!(store.meta("schema_version").unwrap(), None);

        assert_eq!(
            store.nonces().unwrap(),
            vec![
                ("key-a".to_string(), "0001".to_string(), -5),
                ("key-b".to_string(), "00ff".to_string(), 1_700_000_000_000),
            ]
        );

        assert_eq!(store.daily_count("urn:company:x", "2025-05-01").unwrap(), 4);
        assert_eq!(store.daily_count("URN:COMPANY:X", "2025-05-02").unwrap(), 1);
        assert_eq!(store.daily_count("urn:company:x", "2025-05-03").unwrap(), 0);
        assert_eq!(store.daily_count("urn:company:y", "2025-05-01").unwrap(), 0);

        assert_eq!(store.count(Table::Audit).unwrap(), 6);
        assert_eq!(store.count(Table::Nonces).unwrap(), 2);
        assert_eq!(store.count(Table::DailyCounts).unwrap(), 2);
        assert_eq!(store.count(Table::Meta).unwrap(), 1);
    }

    let store = open(dir.path(), kind);
    assert_eq!(store.audit_last().unwrap(), Some((256, entry(256))));
    assert_eq!(store.audit_entries(5, 1).unwrap(), vec![(5, entry(5))]);
    assert_eq!(
        store.meta("audit_head").unwrap(),
        Some(b"head-256".to_vec())
    );
    assert_eq!(store.nonces().unwrap().len(), 2);
    assert_eq!(store.daily_count("urn:company:x", "2025-05-01").unwrap(), 4);
}

fn empty_store_reads(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), kind);
    for table in Table::ALL {
        assert_eq!(store.count(table).unwrap(), 0, "{}", table.name());
    }
    assert_eq!(store.own_footprint(A).unwrap(), None);
    assert!(store.own_footprints_page(None, 10).unwrap().is_empty());
    assert!(store.own_ids_by_product("urn:gtin:a").unwrap().is_empty());
    assert!(store.own_ids_by_status(Status::Active).unwrap().is_empty());
    assert_eq!(store.inbox_entry(A).unwrap(), None);
    assert!(store.inbox().unwrap().is_empty());
    assert_eq!(store.partner("urn:company:example:acme").unwrap(), None);
    assert!(store.partners().unwrap().is_empty());
    assert!(store.policies().unwrap().is_empty());
    assert!(store.audit_entries(0, 10).unwrap().is_empty());
    assert_eq!(store.audit_last().unwrap(), None);
    assert_eq!(store.meta("audit_head").unwrap(), None);
    assert!(store.nonces().unwrap().is_empty());
    assert_eq!(store.daily_count("urn:company:x", "2025-05-01").unwrap(), 0);
    // An empty batch is fine and changes nothing.
    store.publish_batch(&[], &[]).unwrap();
    store.commit_journal(Vec::new()).unwrap();
    assert_eq!(store.count(Table::Footprints).unwrap(), 0);
}

/// Nonce rows sort by issue time whatever their key id and nonce, so the journal appends
/// and a sweep forgets from the front; rows in the earlier layout (key id, 0, nonce hex) are
/// rewritten when the store opens and can then be forgotten like any other.
fn nonces_are_time_ordered_and_legacy_keys_are_upgraded_on_open(kind: EngineKind) {
    use super::{Op, pair_key};
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), kind);
        store
            .commit_journal(vec![
                journal_ops::nonce("key-z", "0000", 3_000),
                journal_ops::nonce("key-a", "ffff", 1_000),
                journal_ops::nonce("key-m", "1111", -2_000),
            ])
            .unwrap();
        // Two rows as a node before this layout wrote them.
        store
            .engine
            .apply(&[
                Op::Put(
                    Table::Nonces,
                    pair_key("key-old", "beef"),
                    2_000i64.to_be_bytes().to_vec(),
                ),
                Op::Put(
                    Table::Nonces,
                    pair_key("key-old", "cafe"),
                    4_000i64.to_be_bytes().to_vec(),
                ),
            ])
            .unwrap();
    }
    let store = open(dir.path(), kind);
    let by_time = |store: &Store| {
        store
            .nonces()
            .unwrap()
            .into_iter()
            .map(|(k, n, at)| format!("{at} {k} {n}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by_time(&store),
        [
            "-2000 key-m 1111",
            "1000 key-a ffff",
            "2000 key-old beef",
            "3000 key-z 0000",
            "4000 key-old cafe"
        ]
    );
    let keys = store.scan(Table::Nonces, b"", None, usize::MAX).unwrap();
    assert_eq!(keys.len(), 5);
    assert!(keys.iter().all(|(k, _)| k[0] == 0x01), "legacy keys left");
    store
        .commit_journal(vec![
            journal_ops::forget_nonce("key-old", "beef", 2_000),
            journal_ops::forget_nonce("key-m", "1111", -2_000),
        ])
        .unwrap();
    assert_eq!(
        by_time(&store),
        ["1000 key-a ffff", "3000 key-z 0000", "4000 key-old cafe"]
    );
}

// === reopen ===

fn counts_and_everything_survive_reopen(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let a = own(A, &["urn:gtin:a", "urn:gtin:shared"]);
    let b = own(B, &["urn:gtin:shared"]);
    let a_dep = deprecated(&a, "2025-06-01T00:00:00Z");
    let x = inbox_entry(C, SignatureStatus::Verified, &["urn:gtin:x", "urn:gtin:y"]);
    let acme = partner("urn:company:example:acme", "acme", &["suppliers"]);
    let p1 = policy("policy-1", "allow = []\n");
    let expected: [(Table, u64); 13] = [
        (Table::Footprints, 2),
        (Table::FootprintsByProduct, 3),
        (Table::FootprintsByCompany, 2),
        (Table::FootprintsByClassification, 2),
        (Table::FootprintsByStatus, 2),
        (Table::Inbox, 1),
        (Table::InboxByProduct, 2),
        (Table::Partners, 1),
        (Table::Policies, 1),
        (Table::Audit, 3),
        (Table::Nonces, 1),
        (Table::DailyCounts, 1),
        (Table::Meta, 2),
    ];
    {
        let store = open(dir.path(), kind);
        store.publish_batch(slice::from_ref(&a), &[]).unwrap();
        store
            .publish_batch(slice::from_ref(&b), slice::from_ref(&a_dep))
            .unwrap();
        store.put_inbox(slice::from_ref(&x)).unwrap();
        store.put_partner(&acme).unwrap();
        store.put_policy(&p1).unwrap();
        store
            .commit_journal(vec![
                journal_ops::audit(10, b"ten".to_vec()),
                journal_ops::audit(11, b"eleven".to_vec()),
                journal_ops::audit(12, b"twelve".to_vec()),
                journal_ops::nonce("key-1", "beef", 42),
                journal_ops::daily("urn:company:example:acme", "2025-05-01", 7),
                journal_ops::meta("audit_head", b"12".to_vec()),
                journal_ops::meta("schema_version", b"1".to_vec()),
            ])
            .unwrap();
        for (table, n) in expected {
            assert_eq!(store.count(table).unwrap(), n, "{}", table.name());
        }
        assert!(store.disk_bytes() > 0);
    }

    // Reopened twice: the second reopen shows the first one did not lose or rewrite anything.
    for _ in 0..2 {
        let store = open(dir.path(), kind);
        for (table, n) in expected {
            assert_eq!(store.count(table).unwrap(), n, "{}", table.name());
        }
        assert_eq!(
            page_ids(&store.own_footprints_page(None, 10).unwrap()),
            strings(&[A, B])
        );
        assert_eq!(store.own_footprint(A).unwrap(), Some(a_dep.clone()));
        assert_eq!(store.own_footprint(B).unwrap(), Some(b.clone()));
        assert_eq!(
            store.own_ids_by_status(Status::Active).unwrap(),
            strings(&[B])
        );
        assert_eq!(
            store.own_ids_by_status(Status::Deprecated).unwrap(),
            strings(&[A])
        );
        assert_eq!(
            store.own_ids_by_product("urn:gtin:shared").unwrap(),
            strings(&[A, B])
        );
        assert_eq!(store.inbox().unwrap(), vec![x.clone()]);
        assert_eq!(store.partners().unwrap(), vec![acme.clone()]);
        assert_eq!(store.policies().unwrap(), vec![p1.clone()]);
        assert_eq!(
            store.audit_entries(0, 10).unwrap(),
            vec![
                (10, b"ten".to_vec()),
                (11, b"eleven".to_vec()),
                (12, b"twelve".to_vec())
            ]
        );
        assert_eq!(store.audit_last().unwrap(), Some((12, b"twelve".to_vec())));
        assert_eq!(
            store.nonces().unwrap(),
            vec![("key-1".to_string(), "beef".to_string(), 42)]
        );
        assert_eq!(
            store
                .daily_count("urn:company:example:acme", "2025-05-01")
                .unwrap(),
            7
        );
        assert_eq!(store.meta("schema_version").unwrap(), Some(b"1".to_vec()));
    }
}

fn second_open_while_open_fails(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), kind);
    store
        .put_policy(&policy("policy-1", "allow = []\n"))
        .unwrap();

    let err = Store::open(dir.path(), kind).unwrap_err();
    match kind {
        EngineKind::Redb => assert!(matches!(err, StoreError::Locked(_)), "{err:?}"),
        // sled reports its lock failure as ErrorKind::Other, which the engine maps to Engine.
        EngineKind::Sled => assert!(
            matches!(err, StoreError::Locked(_) | StoreError::Engine(_)),
            "{err:?}"
        ),
    }

    // The refused open did not disturb the open store, and the directory reopens once it closes.
    assert_eq!(store.policies().unwrap().len(), 1);
    drop(store);
    let store = open(dir.path(), kind);
    assert_eq!(store.policies().unwrap().len(), 1);
}

fn a_store_larger_than_its_cache_reads_back_whole(kind: EngineKind) {
    // 1 MiB of cache under about 3 MiB of records: every read past the cache goes to disk.
    let dir = tempfile::tempdir().unwrap();
    let body = |n: usize| format!("# policy {n}\n{}", "x".repeat(10_000 + n));
    {
        let store = Store::open_with_cache(dir.path(), kind, 1).unwrap();
        for n in 0..300 {
            store
                .put_policy(&policy(&format!("policy-{n:03}"), &body(n)))
                .unwrap();
        }
        let all = store.policies().unwrap();
        assert_eq!(all.len(), 300);
        assert!(all.iter().enumerate().all(|(n, p)| p.source == body(n)));
    }
    let store = Store::open_with_cache(dir.path(), kind, 1).unwrap();
    let all = store.policies().unwrap();
    assert_eq!(all.len(), 300);
    assert!(all.iter().enumerate().all(|(n, p)| p.source == body(n)));
}

fn many_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("00000000-0000-4000-8000-{i:012x}"))
        .collect()
}

fn decoded_cache_is_shared_byte_capped_and_coherent(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    // 64 KiB for both caches: footprints get 48 KiB, far less than 300 records take.
    let store = Store::open_with_caches(dir.path(), kind, 1, 64 * 1024).unwrap();
    let ids = many_ids(300);
    let all: Vec<OwnFootprint> = ids.iter().map(|id| own(id, &["urn:gtin:x"])).collect();
    store.publish_batch(&all, &[]).unwrap();
    for _ in 0..2 {
        for (id, expected) in ids.iter().zip(&all) {
            let got = store.own_footprint_shared(id).unwrap().unwrap();
            assert_eq!(&*got, expected);
            let ((entries, bytes), _) = store.cache.usage();
            assert!(bytes <= 48 * 1024, "{entries} entries, {bytes} bytes");
        }
    }
    let ((entries, _), _) = store.cache.usage();
    assert!(entries > 0 && entries < 300, "{entries}");
    // A cached record is shared, not copied.
    let first = store.own_footprint_shared(&ids[299]).unwrap().unwrap();
    let again = store.own_footprint_shared(&ids[299]).unwrap().unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    // A write replaces what readers get next; a reader's own Arc keeps its snapshot.
    let old = all[299].clone();
    store
        .publish_batch(&[], &[deprecated(&old, "2025-06-01T00:00:00Z")])
        .unwrap();
    let now = store.own_footprint(&ids[299]).unwrap().unwrap();
    assert_eq!(now.footprint.status, Status::Deprecated);
    assert_eq!(first.footprint.status, Status::Active);
    // Misses are cached too, and a publish makes the id visible.
    let missing = "00000000-0000-4000-8000-ffffffffffff";
    assert_eq!(store.own_footprint_shared(missing).unwrap(), None);
    store
        .publish_batch(&[own(missing, &["urn:gtin:y"])], &[])
        .unwrap();
    assert!(store.own_footprint_shared(missing).unwrap().is_some());
    // Partners likewise.
    let p = partner("urn:company:example:p", "P", &["customer"]);
    assert_eq!(store.partner_shared(&p.card.company_id).unwrap(), None);
    store.put_partner(&p).unwrap();
    let shared = store
        .partner_shared("URN:COMPANY:EXAMPLE:P")
        .unwrap()
        .unwrap();
    assert_eq!(*shared, p);
    let (_, (partners, partner_bytes)) = store.cache.usage();
    assert!(partners >= 1 && partner_bytes <= 16 * 1024);
    assert!(store.remove_partner(&p.card.company_id).unwrap());
    assert_eq!(store.partner(&p.card.company_id).unwrap(), None);
}

fn publish_encoded_stores_what_publish_batch_stores(kind: EngineKind) {
    let plain = tempfile::tempdir().unwrap();
    let encoded = tempfile::tempdir().unwrap();
    let a = open(plain.path(), kind);
    let b = open(encoded.path(), kind);
    let ids = many_ids(20);
    let all: Vec<OwnFootprint> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| own(id, &[&format!("urn:gtin:{}", i % 3)]))
        .collect();
    a.publish_batch(&all, &[]).unwrap();
    let pre: Vec<_> = all
        .iter()
        .map(|o| super::encode_footprint(o).unwrap())
        .collect();
    assert_eq!(pre[3].id(), ids[3]);
    b.publish_encoded_notify(pre, &[], &[]).unwrap();
    for table in Table::ALL {
        assert_eq!(
            a.scan(table, b"", None, usize::MAX).unwrap(),
            b.scan(table, b"", None, usize::MAX).unwrap(),
            "{table:?}"
        );
    }
    // All or nothing: an id already stored, or twice in the batch, stores nothing.
    let fresh = many_ids(30)[20..].to_vec();
    for dup in [ids[5].clone(), fresh[0].clone()] {
        let mut batch: Vec<OwnFootprint> =
            fresh.iter().map(|id| own(id, &["urn:gtin:z"])).collect();
        batch.push(own(&dup.to_ascii_uppercase(), &["urn:gtin:z"]));
        let pre = batch
            .iter()
            .map(|o| super::encode_footprint(o).unwrap())
            .collect();
        let err = b.publish_encoded_notify(pre, &[], &[]).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains(&dup), "{err}");
        assert_eq!(b.own_footprint(&fresh[1]).unwrap(), None);
        assert!(b.own_ids_by_product("urn:gtin:z").unwrap().is_empty());
    }
    // Deprecations travel with a pre-encoded batch, atomically.
    let next = own(&fresh[0], &["urn:gtin:0"]);
    b.publish_encoded_notify(
        vec![super::encode_footprint(&next).unwrap()],
        &[deprecated(&all[0], "2025-06-01T00:00:00Z")],
        &[],
    )
    .unwrap();
    assert_eq!(
        b.own_footprint(&ids[0]).unwrap().unwrap().footprint.status,
        Status::Deprecated
    );
    assert_eq!(b.own_footprint(&fresh[0]).unwrap(), Some(next));
}

// === audit snapshot and archived-prefix removal ===

/// A snapshot keeps showing the entries, head and anchor of the state it was taken in while
/// the journal appends and an archive removes entries (redb: its read transaction; sled: the
/// bounds and the archive gate, released when the snapshot is dropped).
fn audit_snapshot_reads_one_state_while_batches_land(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), kind);
    let entry = |seq: u64| format!("entry-{seq}").into_bytes();
    let batch = |range: std::ops::Range<u64>| {
        let mut ops: Vec<_> = range
            .clone()
            .map(|seq| journal_ops::audit(seq, entry(seq)))
            .collect();
        ops.push(journal_ops::meta(
            tanso_model::audit::HEAD_KEY,
            format!("head-{}", range.end).into_bytes(),
        ));
        store.commit_journal(ops).unwrap();
    };
    let empty = store.audit_snapshot().unwrap();
    assert_eq!(
        (empty.head(), empty.anchor(), empty.end()),
        (None, None, None)
    );
    assert!(empty.entries(0, 10).unwrap().is_empty());
    drop(empty);
    batch(0..10);
    let snapshot = store.audit_snapshot().unwrap();
    batch(10..20);
    assert_eq!(snapshot.head(), Some(&b"head-10"[..]));
    assert_eq!(snapshot.end(), Some(10));
    let seen: Vec<u64> = snapshot
        .entries(0, 100)
        .unwrap()
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert_eq!(snapshot.entries(8, 100).unwrap().len(), 2);
    assert_eq!(
        snapshot.entries(3, 2).unwrap(),
        vec![(3, entry(3)), (4, entry(4))]
    );
    drop(snapshot);
    let snapshot = store.audit_snapshot().unwrap();
    assert_eq!(snapshot.head(), Some(&b"head-20"[..]));
    assert_eq!(snapshot.entries(0, 100).unwrap().len(), 20);
    if kind == EngineKind::Redb {
        // A real snapshot: a removal committed meanwhile is not seen.
        store
            .audit_remove_archived(None, 0, 4, b"anchor-5".to_vec())
            .unwrap();
        assert_eq!(snapshot.anchor(), None);
        assert_eq!(snapshot.entries(0, 100).unwrap().len(), 20);
        drop(snapshot);
    } else {
        // sled: the removal waits for the snapshot to be dropped.
        let remover = {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .audit_remove_archived(None, 0, 4, b"anchor-5".to_vec())
                    .unwrap()
            })
        };
        assert_eq!(snapshot.entries(0, 100).unwrap().len(), 20);
        assert_eq!(snapshot.anchor(), None);
        drop(snapshot);
        remover.join().unwrap();
    }
    let snapshot = store.audit_snapshot().unwrap();
    assert_eq!(snapshot.anchor(), Some(&b"anchor-5"[..]));
    assert_eq!(
        snapshot.entries(0, 100).unwrap().first(),
        Some(&(5, entry(5)))
    );
}

/// Removing an archived prefix deletes exactly the range and stores the anchor in one
/// durable batch, and refuses (changing nothing) when the anchor is not the one the archive
/// started from.
fn audit_removal_is_one_atomic_batch_checked_against_the_anchor(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let entry = |seq: u64| format!("entry-{seq}").into_bytes();
    {
        let store = open(dir.path(), kind);
        // Keys across a byte boundary (255, 256) and far beyond the range.
        let ops: Vec<_> = (0..600)
            .map(|seq| journal_ops::audit(seq, entry(seq)))
            .collect();
        store.commit_journal(ops).unwrap();
        store
            .audit_remove_archived(None, 0, 299, b"anchor-300".to_vec())
            .unwrap();
        let stale = store.audit_remove_archived(None, 300, 399, b"anchor-400".to_vec());
        assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
        let wrong = store.audit_remove_archived(Some(b"anchor-1"), 300, 399, b"x".to_vec());
        assert!(matches!(wrong, Err(StoreError::Conflict(_))), "{wrong:?}");
        assert_eq!(store.count(Table::Audit).unwrap(), 300);
    }
    let store = open(dir.path(), kind);
    assert_eq!(store.count(Table::Audit).unwrap(), 300);
    assert_eq!(store.audit_entries(0, 1).unwrap(), vec![(300, entry(300))]);
    assert_eq!(store.audit_last().unwrap(), Some((599, entry(599))));
    assert_eq!(
        store.meta(tanso_model::audit::ANCHOR_KEY).unwrap(),
        Some(b"anchor-300".to_vec())
    );
    store
        .audit_remove_archived(Some(b"anchor-300"), 300, 599, b"anchor-600".to_vec())
        .unwrap();
    assert_eq!(store.count(Table::Audit).unwrap(), 0);
    let snapshot = store.audit_snapshot().unwrap();
    assert_eq!(
        (snapshot.end(), snapshot.anchor()),
        (None, Some(&b"anchor-600"[..]))
    );
}

// === streamed publish (bulk batches) ===

/// Rows of a table: (key, value).
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Every readable thing of the own-footprint tables and the outbox, as readers see it.
fn visible_state(store: &Store) -> Vec<(Table, Rows)> {
    [
        Table::Footprints,
        Table::FootprintsByProduct,
        Table::FootprintsByCompany,
        Table::FootprintsByClassification,
        Table::FootprintsByStatus,
        Table::Outbox,
    ]
    .into_iter()
    .map(|t| (t, store.scan(t, b"", None, usize::MAX).unwrap()))
    .collect()
}

fn outbox_item(n: usize) -> super::OutboxItem {
    super::OutboxItem {
        id: format!("{n:016x}-item"),
        target: "urn:company:example:p".into(),
        delivery: super::Delivery::Notify {
            event_id: format!("event-{n}"),
            footprint_ids: vec![],
            product_ids: vec![],
        },
        attempts: 0,
        next_attempt_ms: 0,
        created_ms: 0,
        last_error: None,
    }
}

/// Three chunks: 30 new footprints, the deprecation of `old`, an outbox item each.
fn write_three_chunks(writer: &super::PublishWriter<'_>, ids: &[String], old: &OwnFootprint) {
    for (n, part) in ids.chunks(10).enumerate() {
        let chunk = super::PublishChunk {
            new: part
                .iter()
                .map(|id| super::encode_footprint(&own(id, &["urn:gtin:bulk"])).unwrap())
                .collect(),
            deprecated: if n == 1 {
                vec![deprecated(old, "2025-07-01T00:00:00Z")]
            } else {
                vec![]
            },
            items: vec![outbox_item(n)],
            reserved: vec![],
        };
        writer.write(chunk).unwrap();
    }
}

fn streamed_publish_is_unseen_until_its_commit_then_whole(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let old = own(A, &["urn:gtin:bulk"]);
    let ids = many_ids(30);
    {
        let store = open(dir.path(), kind);
        store.publish_batch(slice::from_ref(&old), &[]).unwrap();
        // A reader caches A (Active) and a miss for a new id.
        assert!(store.own_footprint_shared(A).unwrap().is_some());
        assert_eq!(store.own_footprint_shared(&ids[3]).unwrap(), None);
        let before = visible_state(&store);
        let writer = store.begin_publish().unwrap();
        write_three_chunks(&writer, &ids, &old);
        // Written, not seen: by id, by index, in pages, in counts, in the outbox.
        assert_eq!(visible_state(&store), before);
        assert_eq!(store.own_footprint(&ids[3]).unwrap(), None);
        assert_eq!(
            store.own_footprint(A).unwrap().unwrap().footprint.status,
            Status::Active
        );
        assert_eq!(
            store.own_ids_by_product("urn:gtin:bulk").unwrap(),
            strings(&[A])
        );
        assert_eq!(own_counts(&store), [1, 1, 1, 1, 1]);
        assert_eq!(store.count(Table::Outbox).unwrap(), 0);
        // The batch sees its own writes.
        assert_eq!(writer.id_state(&ids[29]).unwrap(), super::IdState::InBatch);
        assert_eq!(writer.id_state(A).unwrap(), super::IdState::InBatch);
        assert_eq!(writer.id_state(B).unwrap(), super::IdState::Free);
        // A second chunk naming an id already written is refused.
        let again = super::PublishChunk {
            new: vec![super::encode_footprint(&own(&ids[0], &["urn:gtin:x"])).unwrap()],
            ..Default::default()
        };
        assert!(matches!(writer.write(again), Err(StoreError::Conflict(_))));
        writer.commit().unwrap();

        // All at once: 31 footprints, A deprecated, three outbox items; the cache saw it.
        assert_eq!(
            store
                .own_footprint_shared(A)
                .unwrap()
                .unwrap()
                .footprint
                .status,
            Status::Deprecated
        );
        assert!(store.own_footprint_shared(&ids[3]).unwrap().is_some());
        assert_eq!(own_counts(&store), [31, 31, 31, 31, 31]);
        assert_eq!(store.own_ids_by_status(Status::Active).unwrap().len(), 30);
        assert_eq!(
            store.own_ids_by_status(Status::Deprecated).unwrap(),
            strings(&[A])
        );
        assert_eq!(store.outbox().unwrap().len(), 3);
        let page = store.own_footprints_page(None, 100).unwrap();
        assert_eq!(page.len(), 31);
        assert!(
            page.windows(2)
                .all(|w| w[0].footprint.id < w[1].footprint.id)
        );
        // Nothing of the batch's bookkeeping is left.
        assert_eq!(store.engine.count(Table::BulkUndo).unwrap(), 0);
    }
    let store = open(dir.path(), kind);
    assert_eq!(own_counts(&store), [31, 31, 31, 31, 31]);
    assert_eq!(
        store.own_footprint(&ids[29]).unwrap(),
        Some(own(&ids[29], &["urn:gtin:bulk"]))
    );
    assert_eq!(
        store.own_footprint(A).unwrap(),
        Some(deprecated(&old, "2025-07-01T00:00:00Z"))
    );
    // Footprints written by a streamed publish are updated like any other.
    let newer = deprecated(&own(&ids[5], &["urn:gtin:bulk"]), "2025-08-01T00:00:00Z");
    store.publish_batch(&[], slice::from_ref(&newer)).unwrap();
    assert_eq!(store.own_footprint(&ids[5]).unwrap(), Some(newer));
    assert_eq!(
        store.own_ids_by_status(Status::Deprecated).unwrap().len(),
        2
    );
    assert_eq!(own_counts(&store), [31, 31, 31, 31, 31]);
}

fn aborted_streamed_publish_leaves_the_store_as_it_was(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let old = own(A, &["urn:gtin:bulk"]);
    let ids = many_ids(30);
    let store = open(dir.path(), kind);
    store.publish_batch(slice::from_ref(&old), &[]).unwrap();
    let before = visible_state(&store);
    let writer = store.begin_publish().unwrap();
    write_three_chunks(&writer, &ids, &old);
    writer.abort().unwrap();
    assert_eq!(visible_state(&store), before);
    // Not only unseen: gone, raw rows and bookkeeping included.
    for table in Table::ALL {
        if table != Table::Meta {
            assert_eq!(
                store.engine.count(table).unwrap(),
                before
                    .iter()
                    .find(|(t, _)| *t == table)
                    .map_or(0, |(_, rows)| rows.len() as u64),
                "{table:?}"
            );
        }
    }
    // Dropping an unfinished publish aborts it too, and the next one starts clean.
    let writer = store.begin_publish().unwrap();
    write_three_chunks(&writer, &ids, &old);
    drop(writer);
    assert_eq!(visible_state(&store), before);
    let writer = store.begin_publish().unwrap();
    assert_eq!(writer.id_state(&ids[0]).unwrap(), super::IdState::Free);
    write_three_chunks(&writer, &ids, &old);
    writer.commit().unwrap();
    assert_eq!(own_counts(&store), [31, 31, 31, 31, 31]);
}

fn streamed_publish_cut_short_is_rolled_back_at_open(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let old = own(A, &["urn:gtin:bulk"]);
    let ids = many_ids(30);
    let before = {
        let store = open(dir.path(), kind);
        store.publish_batch(slice::from_ref(&old), &[]).unwrap();
        let before = visible_state(&store);
        let writer = store.begin_publish().unwrap();
        write_three_chunks(&writer, &ids, &old);
        // The process dies here: nothing runs the rollback, the last write is not durable.
        store
            .commit_journal(vec![journal_ops::meta("flush", vec![1])])
            .unwrap();
        std::mem::forget(writer);
        before
    };
    let store = open(dir.path(), kind);
    let mut after = visible_state(&store);
    assert_eq!(std::mem::take(&mut after), before);
    assert_eq!(store.engine.count(Table::BulkUndo).unwrap(), 0);
    assert_eq!(store.engine.count(Table::Footprints).unwrap(), 1);
    assert_eq!(store.own_footprint(A).unwrap(), Some(old));
}

fn committed_streamed_publish_is_finished_at_open(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let old = own(A, &["urn:gtin:bulk"]);
    let ids = many_ids(30);
    {
        let store = open(dir.path(), kind);
        store.publish_batch(slice::from_ref(&old), &[]).unwrap();
        let writer = store.begin_publish().unwrap();
        write_three_chunks(&writer, &ids, &old);
        // The commit's one write is durable, then the process dies before the clean-up.
        store
            .commit_journal(vec![journal_ops::meta(
                "bulk/committed",
                1u64.to_be_bytes().to_vec(),
            )])
            .unwrap();
        std::mem::forget(writer);
    }
    let store = open(dir.path(), kind);
    assert_eq!(own_counts(&store), [31, 31, 31, 31, 31]);
    assert_eq!(store.engine.count(Table::FootprintsByStatus).unwrap(), 31);
    assert_eq!(store.engine.count(Table::BulkUndo).unwrap(), 0);
    assert_eq!(
        store.own_footprint(A).unwrap().unwrap().footprint.status,
        Status::Deprecated
    );
    assert_eq!(store.outbox().unwrap().len(), 3);
}

/// A commit whose one write failed yet reached the disk (sled applies, then its flush fails)
/// leaves `bulk/committed` at that batch's id while the batch is rolled back. The next batch
/// must not take the same id: cut short by a crash, it would be finished as committed.
fn a_failed_commit_that_reached_the_disk_does_not_lend_its_id(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let old = own(A, &["urn:gtin:bulk"]);
    let ids = many_ids(30);
    let before = {
        let store = open(dir.path(), kind);
        store.publish_batch(slice::from_ref(&old), &[]).unwrap();
        let before = visible_state(&store);
        let writer = store.begin_publish().unwrap();
        write_three_chunks(&writer, &ids, &old);
        // The commit's write lands, but the caller saw it fail and rolled the batch back.
        store
            .commit_journal(vec![journal_ops::meta(
                "bulk/committed",
                1u64.to_be_bytes().to_vec(),
            )])
            .unwrap();
        writer.abort().unwrap();
        assert_eq!(visible_state(&store), before);
        // The next publish is cut short by a crash.
        let writer = store.begin_publish().unwrap();
        write_three_chunks(&writer, &ids, &old);
        store
            .commit_journal(vec![journal_ops::meta("flush", vec![1])])
            .unwrap();
        std::mem::forget(writer);
        before
    };
    let store = open(dir.path(), kind);
    assert_eq!(visible_state(&store), before);
    assert_eq!(store.own_footprint(A).unwrap(), Some(old));
}
