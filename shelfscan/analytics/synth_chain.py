"""A synthetic chain: stores, bays and weeks of scans with realistic verdicts, written as facts.

For the demo (``make demo`` fills about 20 stores × 8 weeks), the tests (a known chain to
recompute every KPI from) and the benchmarks. Each planned facing is a small Markov chain over
scans: a fine facing goes empty or gets the wrong product with a probability that depends on
the product (fast movers run out more), the region, the weekday (Mondays after the weekend are
worst) and the store (well and badly run stores); a problem persists until a later scan finds
it fixed (again more likely in a well-run store). With the defaults, planogram compliance
lands between about 70 and 90 % per store and the out-of-stock rate between 5 and 10 %.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shelfscan.analytics.facts import (
    ProductInfo,
    ScanPlace,
    rebuild_history,
    refresh_rollups,
    write_facts,
)
from shelfscan.analytics.models import FactFacing, FactScan

REGIONS = ("north", "south", "east", "west", "central")
REGION_EFFECT = {"north": 0.8, "south": 1.3, "east": 1.0, "west": 1.1, "central": 0.9}
# Monday .. Sunday: restocking happens over the week, the weekend empties shelves.
WEEKDAY_EFFECT = (1.5, 1.1, 0.9, 0.8, 0.9, 1.0, 1.3)
CATEGORIES = {
    "Cereal": ("Alpenhof", "Sunny Fields", "Oatbarn", "Cocoland"),
    "Coffee": ("Bergkaffee", "Crema Nova", "Morning Bean"),
    "Snacks": ("Crunchy Co", "Salty Pete", "Golden Crisp"),
    "Beverages": ("Fizzwell", "Clearspring", "Citrus Bay"),
    "Dairy": ("Meadowfresh", "Alpine Cow", "Yoghurt Garden"),
}
KINDS = {
    "Cereal": ("Nut Muesli", "Corn Flakes", "Honey Rings", "Porridge Oats", "Choc Puffs"),
    "Coffee": ("Espresso Beans", "Ground Filter", "Instant Gold", "Decaf"),
    "Snacks": ("Salted Crisps", "Paprika Crisps", "Pretzels", "Popcorn"),
    "Beverages": ("Cola", "Still Water", "Orange Juice", "Lemonade"),
    "Dairy": ("Whole Milk", "Greek Yoghurt", "Butter", "Cream Cheese"),
}
SCAN_WEEKDAYS = (0, 3)  # every bay is due twice a week: Monday and Thursday


@dataclass(frozen=True)
class ChainSpec:
    stores: int = 20
    bays: int = 6
    weeks: int = 8
    facings: int = 24  # per bay
    end: date | None = None  # last day (inclusive); default: yesterday (UTC)
    seed: int = 7
    miss_rate: float = 0.08  # scans that were due but not done
    prefix: str = "S"


@dataclass(frozen=True)
class Product:
    key: str
    name: str
    brand: str
    category: str
    demand: float  # multiplies the chance of running out


@dataclass
class ChainResult:
    stores: int
    bays: int
    scans: int
    facings: int


def catalogue(rng: random.Random) -> list[Product]:
    products = []
    for category, brands in CATEGORIES.items():
        for brand in brands:
            for kind in KINDS[category]:
                key = f"{brand[:3].upper()}-{kind.replace(' ', '')[:10].upper()}"
                products.append(
                    Product(key, f"{brand} {kind}", brand, category, rng.uniform(0.5, 2.0))
                )
    return products


def _ensure_places(session: Session, spec: ChainSpec) -> list[tuple[int, str, str, list[int]]]:
    """Stores (with regions) and bays, created when missing: (store id, code, region, bays)."""
    from shelfscan.auth.models import Region
    from shelfscan.db.models import Bay, Store

    existing_regions = set(session.scalars(select(Region.code)))
    for code in REGIONS:
        if code not in existing_regions:
            session.add(Region(code=code, name=code.title(), time_zone="UTC"))
    places = []
    for number in range(1, spec.stores + 1):
        code = f"{spec.prefix}{number:04d}"
        store = session.scalar(select(Store).where(Store.code == code))
        if store is None:
            region = REGIONS[(number - 1) % len(REGIONS)]
            store = Store(code=code, name=f"Store {number:04d} ({region.title()})", region=region)
            session.add(store)
            session.flush()
        have = {
            bay.code: bay.id for bay in session.scalars(select(Bay).where(Bay.store_id == store.id))
        }
        bay_ids = []
        for index in range(1, spec.bays + 1):
            bay_code = f"B{index:02d}"
            if bay_code not in have:
                bay = Bay(store_id=store.id, code=bay_code, name=f"Bay {index}")
                session.add(bay)
                session.flush()
                have[bay_code] = bay.id
            bay_ids.append(have[bay_code])
        places.append((store.id, code, store.region or REGIONS[0], bay_ids))
    session.flush()
    return places


def _scan_days(spec: ChainSpec) -> list[date]:
    end = spec.end or (datetime.now(UTC).date() - timedelta(days=1))
    start = end - timedelta(days=7 * spec.weeks - 1)
    days = []
    day = start
    while day <= end:
        if day.weekday() in SCAN_WEEKDAYS:
            days.append(day)
        day += timedelta(days=1)
    return days


def generate(
    spec: ChainSpec, places: list[tuple[int, str, str, list[int]]], products: list[Product]
) -> Iterator[tuple[ScanPlace, dict[str, Any]]]:
    """Scans with their (minimal) reports, in time order per bay."""
    rng = random.Random(spec.seed)
    by_category: dict[str, list[Product]] = {}
    for product in products:
        by_category.setdefault(product.category, []).append(product)
    categories = sorted(by_category)
    days = _scan_days(spec)
    for store_id, _code, region, bay_ids in places:
        quality = rng.uniform(0.6, 1.6)  # > 1: a badly run store
        fix_rate = min(0.9, max(0.25, rng.uniform(0.45, 0.75) / quality**0.5))
        for bay_number, bay_id in enumerate(bay_ids):
            category = categories[(bay_id + bay_number) % len(categories)]
            assortment = by_category[category]
            planned = [
                assortment[(i * len(assortment)) // spec.facings] for i in range(spec.facings)
            ]
            state = ["ok"] * spec.facings
            wrong: list[Product | None] = [None] * spec.facings
            for day in days:
                if rng.random() < spec.miss_rate * quality:
                    continue
                effect = REGION_EFFECT.get(region, 1.0) * WEEKDAY_EFFECT[day.weekday()] * quality
                at = datetime.combine(day, time(7, 0), tzinfo=UTC) + timedelta(
                    minutes=rng.randrange(0, 600)
                )
                facings = []
                for index, product in enumerate(planned):
                    if state[index] == "ok":
                        draw = rng.random()
                        p_gap = 0.03 * product.demand * effect
                        p_wrong = 0.04 * effect
                        if draw < p_gap:
                            state[index] = "gap"
                        elif draw < p_gap + p_wrong:
                            state[index] = "misplaced"
                            wrong[index] = rng.choice(assortment)
                            if wrong[index] is product:
                                state[index] = "ok"
                    elif rng.random() < fix_rate:
                        state[index] = "ok"
                    status = state[index]
                    if rng.random() < 0.02:
                        status = "not_visible"
                    found = None
                    if status == "ok":
                        found = product.key
                    elif status == "misplaced":
                        found = wrong[index].key if wrong[index] else None
                    facings.append(
                        {
                            "facing_id": f"F{index + 1:03d}",
                            "product_id": product.key,
                            "product_name": product.name,
                            "fixture_id": f"shelf-{index * 4 // spec.facings + 1}",
                            "status": status,
                            "reason": f"synthetic: {status}",
                            "found_product_id": found,
                        }
                    )
                unexpected = []
                if rng.random() < 0.25 * quality:
                    extra = rng.choice(products)
                    unexpected.append(
                        {
                            "product_id": extra.key,
                            "label": extra.name,
                            "fixture_id": "shelf-1",
                            "reason": "synthetic: not planned here",
                        }
                    )
                scan_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                place = ScanPlace(
                    scan_id=scan_id,
                    store_id=store_id,
                    region=region,
                    bay_id=bay_id,
                    scanned_at=at,
                    source="synth",
                )
                yield place, {"facings": facings, "unexpected": unexpected}


def synth_chain(session: Session, spec: ChainSpec, *, batch: int = 500) -> ChainResult:
    """Write the chain (replacing an earlier synthetic chain's facts) and its derived tables."""
    rng = random.Random(spec.seed)
    products = catalogue(rng)
    places = _ensure_places(session, spec)
    store_ids = [store_id for store_id, *_ in places]
    old = select(FactScan.scan_id).where(
        FactScan.source == "synth", FactScan.store_id.in_(store_ids)
    )
    session.execute(delete(FactFacing).where(FactFacing.scan_id.in_(old)))
    session.execute(
        delete(FactScan).where(FactScan.source == "synth", FactScan.store_id.in_(store_ids))
    )
    infos = {p.key: ProductInfo(p.name, p.brand, p.category) for p in products}
    scans = facings = 0
    pending: list[tuple[ScanPlace, dict[str, Any]]] = []
    first = True
    for item in generate(spec, places, products):
        pending.append(item)
        scans += 1
        facings += len(item[1]["facings"]) + len(item[1]["unexpected"])
        if len(pending) >= batch:
            write_facts(session, pending, infos if first else {}, maintain=False)
            first = False
            pending = []
    if pending:
        write_facts(session, pending, infos if first else {}, maintain=False)
    session.flush()
    refresh_rollups(session)
    rebuild_history(session)
    return ChainResult(len(places), sum(len(p[3]) for p in places), scans, facings)
