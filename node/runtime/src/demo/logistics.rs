//! The demo's logistics part: A Logistics, a carrier, computes ISO 14083 shipment emissions
//! from a small legs file, publishes one iLEAP shipment footprint per shipment (signed, under
//! one policy that lets each shipper read only its own shipments), and Daehan Motors fetches
//! its two and uses them as primary data in Scope 3 category 4.

use std::io::Write;

use tanso_calc::scope3::{self, FactorLibrary, SupplierIndex};
use tanso_core::node::Node;
use tanso_grpc::client::{self, FetchWhat};
use tanso_logistics::{calculate, ileap, read_legs};

use super::buyer::step;
use super::{Company, DemoError};

const LEGS: &str = include_str!("../../../../data/examples/a-logistics/shipments/legs.csv");
const ILEAP_SHIPPERS: &str = include_str!("../../../../policies/ileap-shippers.json");
const CARRIER: &str = "urn:tanso:company:a-logistics";
/// The OEM's own transport rows: two shipments A Logistics ran, one leg of another contractor.
const OEM_TRANSPORT: &str = "description,mode,mass,mass_unit,distance,distance_unit,shipment_id
steel coils Pohang to Hwaseong (A Logistics),truck,18,t,770,km,AL-2026-0001
body parts Uiwang to Hwaseong (A Logistics),truck,12,t,95,km,AL-2026-0002
seats (another contractor),truck,4,t,60,km,
";

/// Runs the logistics part: `carrier` (A Logistics) with the demo's OEM (a shipper) and Other
/// Co (another shipper).
pub(super) async fn run(
    out: &mut dyn Write,
    carrier: &Company,
    oem: &Node,
    other: &Node,
) -> Result<(), DemoError> {
    writeln!(
        out,
        "\nLogistics: a carrier's shipment footprints (ISO 14083, iLEAP) become its shippers' Scope 3"
    )?;
    let library = FactorLibrary::builtin();
    let chain = read_legs(LEGS.as_bytes(), "shipments/legs.csv", &library).map_err(step)?;
    let rollup = calculate(&chain).map_err(step)?;
    let mut shipments: Vec<_> = rollup.per_shipment.iter().collect();
    shipments.sort_by(|a, b| a.0.cmp(b.0));
    let list: Vec<String> = shipments
        .iter()
        .map(|(s, t)| format!("{s} {} kg", t.wtw_kg.normalize()))
        .collect();
    writeln!(
        out,
        "L1. A Logistics computes {} legs into {} shipments (t·km × TOC intensity, well-to-wheel): {}",
        chain.legs.len(),
        shipments.len(),
        list.join(", ")
    )?;

    let card = carrier.node.card()?;
    let who = ileap::Carrier {
        company_name: &card.name,
        company_id: &card.company_id,
    };
    let created = tanso_core::node::now_rfc3339();
    let own = |n: &Node| -> Result<Vec<_>, DemoError> {
        Ok(n.footprints()?.into_iter().map(|o| o.footprint).collect())
    };
    let plan = ileap::plan(
        &chain,
        &rollup,
        &[],
        who,
        &own(&carrier.node)?,
        &created,
        || uuid::Uuid::new_v4().to_string(),
    )
    .map_err(step)?;
    let text = serde_json::to_string(&plan.new).map_err(step)?;
    let published = carrier.node.publish(&text)?;
    let again = ileap::plan(
        &chain,
        &rollup,
        &[],
        who,
        &own(&carrier.node)?,
        &created,
        || uuid::Uuid::new_v4().to_string(),
    )
    .map_err(step)?;
    writeln!(
        out,
        "L2. It publishes {} signed PACT footprints, each carrying an iLEAP ShipmentFootprint extension; publishing the same legs again changes nothing ({} unchanged)",
        published.ids.len(),
        again.unchanged.len()
    )?;

    let uid = carrier
        .node
        .add_policy("policies/ileap-shippers.json", ILEAP_SHIPPERS)?;
    let card_text =
        |n: &Node| -> Result<String, DemoError> { serde_json::to_string(&n.card()?).map_err(step) };
    for shipper in [oem, other] {
        carrier.node.add_partner(&card_text(shipper)?, Vec::new())?;
        shipper.add_partner(&card_text(&carrier.node)?, Vec::new())?;
    }
    writeln!(
        out,
        "L3. One policy, {uid}, serves every shipper: full view of a shipment footprint when its recorded customer is the requesting partner (shipmentCustomer eq rightOperandReference partnerId)"
    )?;

    let mine: Vec<String> = ["AL-2026-0001", "AL-2026-0002"]
        .iter()
        .map(|s| ileap::product_id(s))
        .collect();
    let fetched = client::fetch(oem, CARRIER, FetchWhat::Products(mine.clone()), None).await?;
    let theirs = client::fetch(other, CARRIER, FetchWhat::Products(mine), None).await;
    let refused = match theirs {
        Ok(docs) => docs.is_empty(),
        Err(_) => true,
    };
    if fetched.len() != 2 || !refused {
        return Err(step(format!(
            "shipment footprints: Daehan Motors received {}, Other Co refused: {refused}",
            fetched.len()
        )));
    }
    writeln!(
        out,
        "L4. Daehan Motors fetches its two shipment footprints (owner signature verified into its inbox); Other Co asks for the same shipments and receives nothing"
    )?;

    let ledger = scope3::ledger::parse_ledger_text("transport.csv", OEM_TRANSPORT).map_err(step)?;
    let index = SupplierIndex::new(scope3::inbox::suppliers(&oem.inbox()?));
    let report = scope3::calculate(&ledger, &library, &index, &Default::default()).map_err(step)?;
    let c4 = &report.categories[scope3::Category::C4UpstreamTransport as usize];
    let primary: Vec<String> = report
        .lines
        .iter()
        .filter(|l| l.primary)
        .map(|l| format!("{} kg ({})", l.emissions.kg().normalize(), l.factor_id))
        .collect();
    writeln!(
        out,
        "L5. Daehan Motors' Scope 3 category 4: {} kgCO2e, of which {} from the carrier's shipment footprints as primary data [{}] before any distance default; primary-data share {} %",
        c4.emissions.kg().normalize(),
        c4.primary.kg().normalize(),
        primary.join(", "),
        report
            .primary_data_share_pct
            .map(|p| tanso_core::rounding::round_normalized(p, 2).to_string())
            .unwrap_or_else(|| "n/a".into())
    )?;
    Ok(())
}
