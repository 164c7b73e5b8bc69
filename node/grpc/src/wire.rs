//! Conversions between wire messages and domain values: filters, signed footprint views.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use prost::Message;
use proto::pb;
use serde_json::Value;

use crate::RequestError;
use tanso_core::pact::{FootprintFilter, ProductFootprint};
use tanso_core::policy::View;
use tanso_core::signed::{self, Summary, SummaryPcf, VIEW_FULL, VIEW_SUMMARY};
use tanso_core::store::{OwnFootprint, SigRecord};

/// Decodes a verified envelope body.
pub fn decode_body<T: Message + Default>(body: &[u8]) -> Result<T, RequestError> {
    T::decode(body).map_err(RequestError::MalformedBody)
}

/// PACT filters from a ListFootprints request, validated like the REST query parameters.
pub fn filter_from_pb(req: &pb::ListFootprintsRequest) -> Result<FootprintFilter, RequestError> {
    let mut pairs = Vec::new();
    let mut push = |name: &str, values: &[String]| {
        for v in values {
            pairs.push((name.to_string(), v.clone()));
        }
    };
    push("productId", &req.product_id);
    push("companyId", &req.company_id);
    push("geography", &req.geography);
    push("classification", &req.classification);
    for (name, v) in [
        ("validOn", &req.valid_on),
        ("validAfter", &req.valid_after),
        ("validBefore", &req.valid_before),
        ("status", &req.status),
    ] {
        if !v.is_empty() {
            pairs.push((name.to_string(), v.clone()));
        }
    }
    FootprintFilter::parse_query(&pairs).map_err(RequestError::Filter)
}

/// Bytes of the largest answer `own` can be part of on its own: a ListFootprints page holding
/// only its full view (the larger view) with a next-page token, a few bytes more than the
/// GetFootprint answer. Publish refuses a footprint for which this is over
/// `[limits] max_message_bytes`, so every answer can carry it.
pub fn answer_bytes(own: &OwnFootprint) -> usize {
    let item = page_item_bytes(&signed_footprint(own, View::Full));
    item + string_field_bytes(&own.footprint.id)
}

/// What one footprint adds to a ListFootprints answer (field tag, length, message).
pub fn page_item_bytes(item: &pb::SignedFootprint) -> usize {
    let len = item.encoded_len();
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// What a string field (a next-page token, a withheld id) adds to a ListFootprints answer.
pub fn string_field_bytes(s: &str) -> usize {
    1 + prost::encoding::encoded_len_varint(s.len() as u64) + s.len()
}

/// The wire form of one stored footprint in the view policy granted.
pub fn signed_footprint(own: &OwnFootprint, view: View) -> pb::SignedFootprint {
    match view {
        View::Full => pb::SignedFootprint {
            view: Some(pb::signed_footprint::View::Full(
                super::pact_pb::footprint_to_pb(&own.footprint),
            )),
            signature: Some(sig_to_pb(&own.sig_full)),
        },
        View::Summary => pb::SignedFootprint {
            view: Some(pb::signed_footprint::View::Summary(summary_to_pb(
                &Summary::of(&own.footprint),
            ))),
            signature: Some(sig_to_pb(&own.sig_summary)),
        },
    }
}

/// A received footprint as PACT JSON of its view, with its signature record.
pub struct Received {
    pub view: &'static str,
    pub json: Value,
    pub sig: SigRecord,
    /// The typed footprint, for full views.
    pub footprint: Option<ProductFootprint>,
}

/// Turns a received wire footprint back into the JSON its owner signed.
pub fn received(signed: pb::SignedFootprint) -> Result<Received, String> {
    let sig = signed
        .signature
        .ok_or_else(|| "footprint arrived without its owner signature".to_string())?;
    let sig = sig_from_pb(&sig);
    match signed.view {
        Some(pb::signed_footprint::View::Full(fp)) => {
            let footprint = super::pact_pb::footprint_from_pb(fp).map_err(|e| e.to_string())?;
            let json = signed::view_json(&footprint, VIEW_FULL).map_err(|e| e.to_string())?;
            Ok(Received {
                view: VIEW_FULL,
                json,
                sig,
                footprint: Some(footprint),
            })
        }
        Some(pb::signed_footprint::View::Summary(s)) => {
            let json = serde_json::to_value(summary_from_pb(s)?).map_err(|e| e.to_string())?;
            Ok(Received {
                view: VIEW_SUMMARY,
                json,
                sig,
                footprint: None,
            })
        }
        None => Err("footprint arrived without a view".into()),
    }
}

fn sig_to_pb(sig: &SigRecord) -> pb::FootprintSignature {
    pb::FootprintSignature {
        alg: sig.alg.clone(),
        key_id: sig.key_id.clone(),
        public_key: B64.decode(&sig.public_key).unwrap_or_default(),
        company_id: sig.company_id.clone(),
        view: sig.view.clone(),
        signature: B64.decode(&sig.signature).unwrap_or_default(),
    }
}

fn sig_from_pb(sig: &pb::FootprintSignature) -> SigRecord {
    SigRecord {
        alg: sig.alg.clone(),
        key_id: sig.key_id.clone(),
        public_key: B64.encode(&sig.public_key),
        company_id: sig.company_id.clone(),
        view: sig.view.clone(),
        signature: B64.encode(&sig.signature),
    }
}

fn summary_to_pb(s: &Summary) -> pb::FootprintSummary {
    pb::FootprintSummary {
        id: s.id.clone(),
        spec_version: s.spec_version.clone(),
        created: s.created.clone(),
        status: s.status.as_str().to_string(),
        company_name: s.company_name.clone(),
        company_ids: s.company_ids.clone(),
        product_ids: s.product_ids.clone(),
        product_name_company: s.product_name_company.clone(),
        declared_unit_of_measurement: s.pcf.declared_unit_of_measurement.clone(),
        declared_unit_amount: s.pcf.declared_unit_amount.clone(),
        pcf_excluding_biogenic_uptake: s.pcf.pcf_excluding_biogenic_uptake.clone(),
        pcf_including_biogenic_uptake: s.pcf.pcf_including_biogenic_uptake.clone(),
        reference_period_start: s.pcf.reference_period_start.clone(),
        reference_period_end: s.pcf.reference_period_end.clone(),
        preceding_pf_ids: s.preceding_pf_ids.clone(),
        product_classifications: s.product_classifications.clone(),
    }
}

fn summary_from_pb(s: pb::FootprintSummary) -> Result<Summary, String> {
    let status = s
        .status
        .parse()
        .map_err(|e| format!("summary status: {e}"))?;
    Ok(Summary {
        id: s.id,
        spec_version: s.spec_version,
        preceding_pf_ids: s.preceding_pf_ids,
        created: s.created,
        status,
        company_name: s.company_name,
        company_ids: s.company_ids,
        product_ids: s.product_ids,
        product_classifications: s.product_classifications,
        product_name_company: s.product_name_company,
        pcf: SummaryPcf {
            declared_unit_of_measurement: s.declared_unit_of_measurement,
            declared_unit_amount: s.declared_unit_amount,
            pcf_excluding_biogenic_uptake: s.pcf_excluding_biogenic_uptake,
            pcf_including_biogenic_uptake: s.pcf_including_biogenic_uptake,
            reference_period_start: s.reference_period_start,
            reference_period_end: s.reference_period_end,
        },
    })
}
