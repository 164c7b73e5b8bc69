#!/usr/bin/env python3
"""Normalise the shared open factor files into tanso's one common factor layout.

Run from the repo root: python3 data/factors/normalise_factors.py <dir with the original CSVs> data/factors
Values are carried as decimal strings (Python Decimal), never through floats, so the
CSVs the Rust loader embeds hold exactly the publishers' figures.
"""
import csv
import re
import sys
from decimal import Decimal
from pathlib import Path

HEADER = ["id", "key", "name", "value", "low", "high", "numerator", "denominator",
          "gwp", "geography", "year", "dqr_tech", "set", "version", "source", "licence", "notes"]


def plain(d: Decimal) -> str:
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


def slug(s: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", s.lower())).strip("-")


def write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for r in rows:
            w.writerow([r.get(h, "") for h in HEADER])
    print(path, len(rows))


def epa_sef(src):
    rows = []
    meta = dict(numerator="kgCO2e", denominator="USD2022", gwp="AR5", geography="US", year="2022",
                dqr_tech="4", set="EPA Supply Chain GHG Emission Factors", version="v1.3.0",
                source="US EPA, Supply Chain GHG Emission Factors for US Industries and Commodities v1.3.0 (USEEIO v2.2.22-GHG), DOI 10.23719/1531143",
                licence="US Government work, public domain")
    with open(src, encoding="utf-8-sig") as f:
        for r in csv.DictReader(f):
            code, title = r["2017 NAICS Code"], r["2017 NAICS Title"]
            for basis, col in (("purchaser", "Supply Chain Emission Factors with Margins"),
                               ("producer", "Supply Chain Emission Factors without Margins")):
                v = r[col].strip()
                rows.append(dict(meta, id=f"epa-sef-1.3:{code}:{basis}", key=f"naics:{code}:{basis}",
                                 name=f"{title} ({basis} price)", value=plain(Decimal(v)) if v else "",
                                 notes=f"USEEIO {r['Reference USEEIO Code']}; margins {r['Margins of Supply Chain Emission Factors']}"))
    return rows


UOM = {"km": "vehicle.km", "miles": "vehicle.mile", "tonnes": "tonne", "kg": "kg", "tonne.km": "tonne.km",
       "passenger.km": "passenger.km", "litres": "litre", "kWh (Net CV)": "kWh-net-cv",
       "kWh (Gross CV)": "kWh-gross-cv", "Room per night": "room-night", "GJ": "GJ", "kWh": "kWh",
       "cubic metres": "m3", "per FTE Working Hour": "fte-hour", "million litres": "million-litre"}
FUEL_ALIAS = {"Diesel (average biofuel blend)": "diesel", "Petrol (average biofuel blend)": "petrol"}


def desnz(src):
    rows = []
    meta = dict(numerator="kgCO2e", gwp="AR5", geography="GB", year="2024", dqr_tech="2",
                set="UK DESNZ GHG conversion factors", version="2024 flat file v1.1",
                source="UK Department for Energy Security and Net Zero, Greenhouse gas reporting: conversion factors 2024 (flat file v1.1)",
                licence="Open Government Licence v3.0")
    with open(src, encoding="utf-8-sig") as f:
        for r in csv.DictReader(f):
            if r["GHG/Unit"] != "kg CO2e":
                continue  # per-gas rows: the total row carries the CO2e factor
            l1, l2, l3, l4, ct = (r[k].strip() for k in ("Level 1", "Level 2", "Level 3", "Level 4", "Column Text"))
            key = ""
            geo = meta["geography"]
            if l1 == "WTT- fuels":
                key = "wtt-fuel:" + FUEL_ALIAS.get(l3, slug(l3))
            elif l1 == "WTT- UK electricity" and "generation" in l2:
                key = "wtt-electricity:GB"
            elif l1 == "WTT- UK electricity" and "T&D" in l2:
                key = "wtt-td:GB"
            elif l1 == "Transmission and distribution" and l2 == "T&D- UK electricity":
                key = "td:GB"
            elif l1 == "Hotel stay":
                key = "hotel:" + slug(l3)
                geo = "GLO"  # per-country values; the label names the country
            v = r["GHG Conversion Factor 2024"].strip()
            rows.append(dict(meta, id=f"desnz-2024:{r['ID']}", key=key,
                             name=" | ".join(x for x in (r["Scope"], l1, l2, l3, l4, ct) if x),
                             value=plain(Decimal(v)) if v else "", denominator=UOM[r["UOM"]], geography=geo,
                             notes="" if v else "blank in source: not available"))
    return rows


def hub_transport(src):
    rows = []
    meta = dict(numerator="kgCO2e", gwp="AR5", geography="US", year="2025", dqr_tech="2",
                set="EPA GHG Emission Factors Hub", version="2025",
                source="US EPA, GHG Emission Factors Hub (January 2025), Tables 8 and 10",
                licence="US Government work, public domain")
    unit = {"vehicle-mile": "vehicle.mile", "short ton-mile": "short-ton.mile", "passenger-mile": "passenger.mile"}
    with open(src, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            co2e = Decimal(r["co2_kg_per_unit"]) + Decimal(r["ch4_g_per_unit"]) * 28 / 1000 + Decimal(r["n2o_g_per_unit"]) * 265 / 1000
            # strip the Hub's footnote letters ("TruckC", "Passenger Car A")
            name = re.sub(r"(?<=[a-z)])\s?[A-E]$", "", r["vehicle_type"]).strip()
            rows.append(dict(meta, id=f"epa-hub-2025:t{r['table']}:{slug(name)}:{slug(r['unit'])}", name=f"{name} ({r['use']})",
                             value=plain(co2e), denominator=unit[r["unit"]],
                             notes=f"CO2 {r['co2_kg_per_unit']} kg + CH4 {r['ch4_g_per_unit']} g x 28/1000 + N2O {r['n2o_g_per_unit']} g x 265/1000 (AR5)"))
    return rows


def hub_waste(src):
    rows = []
    meta = dict(numerator="tCO2e", denominator="short-ton", gwp="AR5", geography="US", year="2025", dqr_tech="2",
                set="EPA GHG Emission Factors Hub", version="2025",
                source="US EPA, GHG Emission Factors Hub (January 2025), Table 9 (EPA WARM)",
                licence="US Government work, public domain")
    cols = [("recycled_tco2e_per_short_ton", "recycled"), ("landfilled", "landfilled"), ("combusted", "combusted"),
            ("composted", "composted"), ("anaerobic_dry", "anaerobic-dry"), ("anaerobic_wet", "anaerobic-wet")]
    with open(src, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            m = r["material"]
            for col, t in cols:
                v = r[col].strip()
                rows.append(dict(meta, id=f"epa-hub-2025:t9:{slug(m)}:{t}", key=f"waste:{slug(m)}:{t}",
                                 name=f"{m}, {t}", value=plain(Decimal(v)) if v else "",
                                 notes="" if v else "NA in source: not available"))
    return rows


def main():
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    write(dst / "epa_supply_chain_v1_3.csv", epa_sef(src / "epa_supply_chain_ghg_ef_v1.3.0_naics_co2e_usd2022.csv"))
    write(dst / "desnz_2024.csv", desnz(src / "desnz_ghg_conversion_factors_2024_flat_v1_1.csv"))
    write(dst / "epa_hub_2025.csv", hub_transport(src / "epa_ghg_ef_hub_2025_scope3_transport_travel.csv")
          + hub_waste(src / "epa_ghg_ef_hub_2025_scope3_waste.csv"))


if __name__ == "__main__":
    main()
