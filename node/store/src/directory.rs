//! Directory tables: an association's members with their product and classification indexes,
//! and, on a node, the directories it trusts and the member credentials it learnt from them.
//!
//! Everything here is an identifier (company, product, classification, key, endpoint); no
//! footprint value is ever written to these tables.

use serde::{Deserialize, Serialize};

use super::domain::{decode, encode};
use super::{Store, StoreError, Table, pair_key, pair_prefix};
use tanso_model::card::NodeCard;
use tanso_model::directory::{DirectoryCard, MemberState, MembershipCredential, StatusList};

/// A company as the directory knows it: its application and, once approved, its credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRecord {
    pub state: MemberState,
    /// The node card of the latest application (self-signed by the member).
    pub card: NodeCard,
    pub supplies_products: Vec<String>,
    pub supplies_classifications: Vec<String>,
    pub buys_classifications: Vec<String>,
    /// `issuedAt` of the latest application (RFC 3339); an older application never replaces it.
    pub applied_at: String,
    /// The current credential when approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<MembershipCredential>,
}

/// Directory-wide counters and the current signed status list, kept in `Meta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta {
    /// Serial of the last credential issued.
    pub credential_serial: u64,
    /// The current status list (its serial increases on every change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_list: Option<StatusList>,
}

/// A directory a node trusts, with its own credential there and the latest status list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedDirectory {
    pub card: DirectoryCard,
    /// This node's membership credential, once the directory approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<MembershipCredential>,
    /// The newest verified status list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_list: Option<StatusList>,
    /// What this node said it supplies and buys when it last applied (re-sent on re-join).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<tanso_model::directory::JoinFacts>,
    pub trusted_at: String,
}

/// A member credential a node learnt from a directory, with when it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedMember {
    pub credential: MembershipCredential,
    /// Unix milliseconds.
    pub fetched_at_ms: i64,
}

const META_DIRECTORY: &[u8] = b"directory";

fn index_entries(record: &MemberRecord) -> Vec<(Table, Vec<u8>)> {
    if record.state != MemberState::Approved {
        return Vec::new();
    }
    let company = record.card.company_id.to_ascii_lowercase();
    let mut out = Vec::new();
    for p in &record.supplies_products {
        out.push((
            Table::DirMembersByProduct,
            pair_key(&p.to_ascii_lowercase(), &company),
        ));
    }
    for c in &record.supplies_classifications {
        out.push((
            Table::DirMembersByClassification,
            pair_key(&c.to_ascii_lowercase(), &company),
        ));
    }
    out
}

impl Store {
    // === directory side ===

    /// The member or applicant with `company_id`.
    pub fn dir_member(&self, company_id: &str) -> Result<Option<MemberRecord>, StoreError> {
        self.get(
            Table::DirMembers,
            company_id.to_ascii_lowercase().as_bytes(),
        )?
        .map(|b| decode(Table::DirMembers, &b))
        .transpose()
    }

    /// Members and applicants in company-id order, starting after `after` (exclusive).
    pub fn dir_members_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MemberRecord>, StoreError> {
        let start = after.map(|a| {
            let mut k = a.to_ascii_lowercase().into_bytes();
            k.push(0);
            k
        });
        self.scan(Table::DirMembers, b"", start.as_deref(), limit)?
            .into_iter()
            .map(|(_, v)| decode(Table::DirMembers, &v))
            .collect()
    }

    /// Lowercase company ids of approved members supplying `product_id`.
    pub fn dir_by_product(&self, product_id: &str) -> Result<Vec<String>, StoreError> {
        self.index_companies(Table::DirMembersByProduct, product_id)
    }

    /// Lowercase company ids of approved members supplying `classification`.
    pub fn dir_by_classification(&self, classification: &str) -> Result<Vec<String>, StoreError> {
        self.index_companies(Table::DirMembersByClassification, classification)
    }

    fn index_companies(&self, table: Table, value: &str) -> Result<Vec<String>, StoreError> {
        let prefix = pair_prefix(&value.to_ascii_lowercase());
        Ok(self
            .scan(table, &prefix, None, usize::MAX)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            .collect())
    }

    /// The directory's counters and current status list.
    pub fn dir_meta(&self) -> Result<DirectoryMeta, StoreError> {
        Ok(self
            .get(Table::Meta, META_DIRECTORY)?
            .map(|b| decode(Table::Meta, &b))
            .transpose()?
            .unwrap_or_default())
    }

    /// Read-modify-write of one member and the directory meta, atomically and durably:
    /// `f` sees the current record and meta and returns the new record (or `None` for no
    /// change); the product and classification indexes follow the record.
    pub fn dir_write<T, E>(
        &self,
        company_id: &str,
        f: impl FnOnce(Option<MemberRecord>, &mut DirectoryMeta) -> Result<(Option<MemberRecord>, T), E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let key = company_id.to_ascii_lowercase().into_bytes();
        self.update(|tx| {
            let old: Option<MemberRecord> = tx
                .get(Table::DirMembers, &key)?
                .map(|b| decode(Table::DirMembers, &b))
                .transpose()?;
            let mut meta: DirectoryMeta = tx
                .get(Table::Meta, META_DIRECTORY)?
                .map(|b| decode(Table::Meta, &b))
                .transpose()?
                .unwrap_or_default();
            let before = meta.clone();
            let (new, out) = f(old.clone(), &mut meta)?;
            if let Some(new) = new {
                if let Some(old) = &old {
                    for (table, k) in index_entries(old) {
                        tx.delete(table, k);
                    }
                }
                for (table, k) in index_entries(&new) {
                    tx.put(table, k, Vec::new());
                }
                tx.put(Table::DirMembers, key.clone(), encode(&new)?);
            }
            if meta != before {
                tx.put(Table::Meta, META_DIRECTORY.to_vec(), encode(&meta)?);
            }
            Ok(out)
        })
    }

    // === node side ===

    /// The directories this node trusts.
    pub fn trusted_directories(&self) -> Result<Vec<TrustedDirectory>, StoreError> {
        self.scan(Table::TrustedDirectories, b"", None, usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(Table::TrustedDirectories, &v))
            .collect()
    }

    /// Pins a directory card (replacing the entry of the same association, which keeps its
    /// credential and status list only when the key is unchanged).
    pub fn trust_directory(&self, card: &DirectoryCard, now: &str) -> Result<(), StoreError> {
        let key = card.association_id.to_ascii_lowercase().into_bytes();
        self.update(|tx| {
            let old: Option<TrustedDirectory> = tx
                .get(Table::TrustedDirectories, &key)?
                .map(|b| decode(Table::TrustedDirectories, &b))
                .transpose()?;
            let entry = match old {
                Some(mut old) if old.card.key_id == card.key_id => {
                    old.card = card.clone();
                    old
                }
                _ => TrustedDirectory {
                    card: card.clone(),
                    credential: None,
                    status_list: None,
                    application: None,
                    trusted_at: now.to_string(),
                },
            };
            tx.put(Table::TrustedDirectories, key.clone(), encode(&entry)?);
            Ok::<_, StoreError>(())
        })
    }

    /// Updates a trusted directory's entry in place; `false` when it is not trusted.
    pub fn update_trusted_directory(
        &self,
        association_id: &str,
        f: impl FnOnce(&mut TrustedDirectory),
    ) -> Result<bool, StoreError> {
        let key = association_id.to_ascii_lowercase().into_bytes();
        self.update(|tx| {
            let Some(bytes) = tx.get(Table::TrustedDirectories, &key)? else {
                return Ok::<_, StoreError>(false);
            };
            let mut entry: TrustedDirectory = decode(Table::TrustedDirectories, &bytes)?;
            let before = entry.clone();
            f(&mut entry);
            if entry != before {
                tx.put(Table::TrustedDirectories, key.clone(), encode(&entry)?);
            }
            Ok(true)
        })
    }

    /// Member credentials learnt from the directory of `association_id`.
    pub fn cached_members(&self, association_id: &str) -> Result<Vec<CachedMember>, StoreError> {
        let prefix = pair_prefix(&association_id.to_ascii_lowercase());
        self.scan(Table::DirectoryCache, &prefix, None, usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(Table::DirectoryCache, &v))
            .collect()
    }

    /// Keeps member credentials learnt from a directory (replacing older ones of the same company).
    pub fn put_cached_members(
        &self,
        association_id: &str,
        members: &[CachedMember],
    ) -> Result<(), StoreError> {
        let assoc = association_id.to_ascii_lowercase();
        let ops = members
            .iter()
            .map(|m| {
                Ok(super::Op::Put(
                    Table::DirectoryCache,
                    pair_key(&assoc, &m.credential.company_id.to_ascii_lowercase()),
                    encode(m)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if ops.is_empty() {
            return Ok(());
        }
        self.commit(ops)
    }
}
