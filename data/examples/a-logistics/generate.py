#!/usr/bin/env python3
"""Generates the A Logistics example ledgers (36 months, 2022-2024) deterministically.

"A Logistics" is the pseudonymous company of the GLEC KPI guide (seed 000, part 5): Year 1
(2022) 5,200 t CO2e, measurement system and staff training; Year 2 (2023) 4,550 t (-12.5 %),
10 electric vans and LED lighting; Year 3 (2024) 3,900 t (-25 %), AI route optimisation and
rooftop solar. The activity data here is invented to tell that story: each year's emissions
are split over departments, teams, assets and months (with seasonality), turned into
quantities with the same factors tanso uses (DESNZ 2024 diesel 2.51279 kg/litre and natural
gas 0.1829 kg/kWh gross CV, Korean grid 2023 0.4173 t/MWh, R-410A AR5 1924 kg/kg), and the
last truck row of each year absorbs the rounding so the computed yearly total is the guide's.

Run from the repo root: python3 data/examples/a-logistics/generate.py
Writes data/examples/a-logistics/ledger/{fuel,electricity,refrigerants}.csv and the operational
measures the KPIs divide by, data/examples/a-logistics/measures.csv (per department and team,
derived from the ledger rows: diesel km = litres x km/L, EV km = kWh / kWh per km, t*km = km x
average payload, revenue = t*km x a rate; fleet sizes as the README states).
"""
from decimal import Decimal as D, ROUND_HALF_UP
from pathlib import Path

DIESEL = D("2.51279")   # kgCO2e/litre, desnz-2024:1_101_1011_8_1
GAS = D("0.1829")       # kgCO2e/kWh gross CV, desnz-2024:1_100_1004_6_1
GRID = D("0.4173")      # kgCO2e/kWh (0.4173 tCO2e/MWh), kr-grid:2023
R410A = D("1924")       # kgCO2e/kg AR5, desnz-2024:3_201_2156_3_1

TARGET = {2022: D(5200000), 2023: D(4550000), 2024: D(3900000)}
# kg per year by stream; each year adds up to its target.
PLAN = {
    2022: dict(trunk=3100000, lastmile=1000000, ev=0, warehouse_el=700000, gas=350000, leak=50000),
    2023: dict(trunk=2850000, lastmile=700000, ev=60000, warehouse_el=600000, gas=310000, leak=30000),
    2024: dict(trunk=2500000, lastmile=600000, ev=70000, warehouse_el=420000, gas=290000, leak=20000),
}
TRANSPORT_SEASON = [95, 85, 100, 100, 100, 95, 95, 95, 105, 105, 110, 115]
GAS_SEASON = [180, 160, 130, 80, 50, 30, 30, 30, 50, 90, 150, 220]
POWER_SEASON = [105, 100, 95, 90, 95, 110, 120, 120, 100, 90, 95, 100]
# 40 tractor units (about 31,000 litres, 100,000 km a year each) and 50 diesel vans.
TRUNK = [("Seoul-Busan", [f"TR-{i:03d}" for i in range(1, 25)]), ("Seoul-Gwangju", [f"TR-{i:03d}" for i in range(101, 117)])]
LASTMILE = [("Gangnam", [f"VN-{i:03d}" for i in range(1, 31)]), ("Incheon", [f"VN-{i:03d}" for i in range(101, 121)])]
DEPOTS = [("Gangnam", "Gangnam depot"), ("Incheon", "Incheon depot")]
DCS = [("Icheon DC", "Icheon DC"), ("Pyeongtaek DC", "Pyeongtaek DC")]

# Operational assumptions (invented, round figures for the example).
# Fuel economy improves with driver training (2023) and AI route optimisation (2024).
KM_PER_LITRE = {"Trunk haulage": {2022: D("3.20"), 2023: D("3.45"), 2024: D("3.65")},
                "Last-mile delivery": {2022: D("8.0"), 2023: D("8.4"), 2024: D("8.8")}}
EV_KWH_PER_KM = D("0.22")
PAYLOAD_T = {"Trunk haulage": {2022: D("15.0"), 2023: D("15.5"), 2024: D("16.5")},
             "Last-mile delivery": {2022: D("0.6"), 2023: D("0.6"), 2024: D("0.6")}}
MKRW_PER_TKM = {"Trunk haulage": D("0.00011"), "Last-mile delivery": D("0.0015")}
DC_MKRW_PER_MONTH = {2022: D("380"), 2023: D("395"), 2024: D("411")}
# Fleet per team: diesel units (every vehicle with fuel rows) and electric vans (from 2023: the
# guide's 10 electric vans, 6 at Gangnam and 4 at Incheon).
DIESEL_FLEET = {("Trunk haulage", "Seoul-Busan"): 24, ("Trunk haulage", "Seoul-Gwangju"): 16,
                ("Last-mile delivery", "Gangnam"): 30, ("Last-mile delivery", "Incheon"): 20}
EVS = {("Last-mile delivery", "Gangnam"): 6, ("Last-mile delivery", "Incheon"): 4}


def measures(fuel, power):
    """The operational measures per month, department and team, from the ledger rows."""
    litres, kwh = {}, {}
    for row in fuel[1:]:
        date, dept, team, _, use, _, qty, _ = row.split(",")
        if use == "mobile":
            litres[(date, dept, team)] = litres.get((date, dept, team), D(0)) + D(qty)
    for row in power[1:]:
        date, dept, team, _, _, _, qty, _ = row.split(",")
        if dept == "Last-mile delivery":
            kwh[(date, dept, team)] = kwh.get((date, dept, team), D(0)) + D(qty)
    out = ["period,department,team,measure,value,unit"]
    for year in PLAN:
        for m in range(1, 13):
            date = f"{year}-{m:02d}"
            for (dept, team), diesel in DIESEL_FLEET.items():
                km = q(litres[(date, dept, team)] * KM_PER_LITRE[dept][year], 1)
                ev_km = q(kwh.get((date, dept, team), D(0)) / EV_KWH_PER_KM, 1)
                tkm = q((km + ev_km) * PAYLOAD_T[dept][year], 1)
                evs = EVS.get((dept, team), 0) if year >= 2023 else 0
                out += [f"{date},{dept},{team},diesel_km,{km},km",
                        f"{date},{dept},{team},tkm,{tkm},t*km",
                        f"{date},{dept},{team},revenue_mkrw,{q(tkm * MKRW_PER_TKM[dept], 1)},MKRW",
                        f"{date},{dept},{team},vehicles,{diesel + evs},vehicles",
                        f"{date},{dept},{team},clean_vehicles,{evs},vehicles"]
            for team, _ in DCS:
                out.append(f"{date},Warehousing,{team},revenue_mkrw,{DC_MKRW_PER_MONTH[year]},MKRW")
    return out


def q(x, places):
    return x.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_UP)


def split(total, weights):
    s = sum(weights)
    return [D(total) * D(w) / D(s) for w in weights]


def main():
    out = Path(__file__).parent / "ledger"
    out.mkdir(exist_ok=True)
    fuel = ["date,department,team,asset,use,fuel,quantity,unit"]
    power = ["date,department,team,site,grid,energy_type,quantity,unit"]
    leaks = ["date,department,team,site,gas,quantity,unit,gwp"]
    for year, plan in PLAN.items():
        computed = D(0)
        last_truck = None
        for m in range(12):
            date = f"{year}-{m + 1:02d}"
            for stream, dept, teams in (("trunk", "Trunk haulage", TRUNK), ("lastmile", "Last-mile delivery", LASTMILE)):
                month_kg = split(plan[stream], TRANSPORT_SEASON)[m]
                # Vehicles differ a little from month to month (90-110 % of an even share).
                weight = {a: 90 + (sum(map(ord, a)) * 7 + m * 13) % 21 for _, assets in teams for a in assets}
                total_weight = sum(weight.values())
                for team, assets in teams:
                    for asset in assets:
                        litres = q(month_kg * weight[asset] / total_weight / DIESEL, 2)
                        computed += litres * DIESEL
                        fuel.append(f"{date},{dept},{team},{asset},mobile,diesel,{litres},litre")
                        if stream == "trunk":
                            last_truck = (len(fuel) - 1, litres, date, dept, team, asset)
            if plan["ev"]:
                month_kg = split(plan["ev"], TRANSPORT_SEASON)[m]
                for team, site in DEPOTS:
                    kwh = q(month_kg / len(DEPOTS) / GRID, 1)
                    computed += kwh * GRID
                    power.append(f"{date},Last-mile delivery,{team},{site},KR,electricity,{kwh},kWh")
            for team, site in DCS:
                kwh = q(split(plan["warehouse_el"], POWER_SEASON)[m] / len(DCS) / GRID, 1)
                computed += kwh * GRID
                power.append(f"{date},Warehousing,{team},{site},KR,electricity,{kwh},kWh")
                gas = q(split(plan["gas"], GAS_SEASON)[m] / len(DCS) / GAS, 1)
                computed += gas * GAS
                fuel.append(f"{date},Warehousing,{team},{site} boiler,stationary,natural-gas,{gas},kWh-gross-cv")
            if m == 6:  # the yearly leak check in July
                for team, site in DCS:
                    kg = q(D(plan["leak"]) / len(DCS) / R410A, 3)
                    computed += kg * R410A
                    leaks.append(f"{date},Warehousing,{team},{site},R-410A,{kg},kg,AR5")
        # The last truck row of the year absorbs the rounding of every row before it.
        i, litres, date, dept, team, asset = last_truck
        computed -= litres * DIESEL
        litres = q((TARGET[year] - computed) / DIESEL, 2)
        computed += litres * DIESEL
        fuel[i] = f"{date},{dept},{team},{asset},mobile,diesel,{litres},litre"
        print(year, computed, "kg; off by", computed - TARGET[year])
    for name, rows in (("fuel.csv", fuel), ("electricity.csv", power), ("refrigerants.csv", leaks)):
        (out / name).write_text("\n".join(rows) + "\n")
    (out.parent / "measures.csv").write_text("\n".join(measures(fuel, power)) + "\n")


if __name__ == "__main__":
    main()
