"""Full /transactions/sync of 100,000 transactions (2 items) into a fresh store.

Real plaid-python client -> the emulator over HTTP on 127.0.0.1 -> recon.plaid.sync -> SQLite
(a temporary file) or, with --database-url, PostgreSQL (a fresh schema, dropped afterwards).
Prints transactions/second, wall and CPU time (the emulator runs in this process, so its work is
included) and peak RSS.

    python benchmarks/bench_sync.py [--transactions 100000]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from recon.config import parse_config
from recon.plaid.client import make_gateway
from recon.plaid.emulator import Emulator, EmulatorServer
from recon.plaid.items import add_sandbox_item
from recon.plaid.sync import sync_all
from recon.plaid.tokens import TokenVault, generate_key
from recon.store.db import normalise_url, open_store
from recon.store.schema import bank_transactions

CLIENT_ID, SECRET = "bench-client", "bench-secret"


def fixtures(total: int) -> dict[str, Any]:
    per_item = total // 2
    start = date(2023, 1, 1)
    result = []
    for n in range(2):
        result.append({
            "item_id": f"bench-item-{n}", "institution_id": f"ins_bench_{n}",
            "accounts": [{"account_id": f"bench-acc-{n}",
                          "balances": {"current": Decimal("1000.00"), "iso_currency_code": "USD"}}],
            "transactions": [
                {"amount": Decimal(i % 100_000 - 50_000).scaleb(-2) or Decimal("1.00"),
                 "name": f"Payment {i}", "merchant_name": "ACME" if i % 3 else None,
                 "date": (start + timedelta(days=i % 500)).isoformat(),
                 "payment_meta": {"reference_number": f"INV-{i}"}}
                for i in range(per_item)
            ],
        })
    return {"items": result}


@contextmanager
def fresh_store_url(database_url: str | None) -> Iterator[str]:
    """A SQLite file in a temporary folder, or a new schema in the given PostgreSQL database."""
    if not database_url:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    url = normalise_url(database_url)
    schema = f"bench_sync_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (a fresh schema is created); default: SQLite")
    args = parser.parse_args()
    t0 = time.perf_counter()
    emulator = Emulator(fixtures(args.transactions), client_id=CLIENT_ID, secret=SECRET,
                        today=date(2024, 6, 1))
    print(f"emulator fixtures built in {time.perf_counter() - t0:.1f} s")
    config = parse_config({"plaid": {"sync_page_size": 500}}, environ={})
    vault = TokenVault.from_env("BENCH_KEY", {"BENCH_KEY": generate_key()})
    with fresh_store_url(args.database_url) as url, EmulatorServer(emulator) as server:
        engine = open_store(url)
        gateway = make_gateway(config.plaid, host=server.url, client_id=CLIENT_ID, secret=SECRET)
        now = datetime.now(UTC)
        for n in range(2):
            add_sandbox_item(engine, gateway, vault, f"ins_bench_{n}", now=now)
        start, cpu_start = time.perf_counter(), time.process_time()
        outcomes = sync_all(engine, gateway, vault, config, now=now)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(bank_transactions)).scalar_one()
        engine.dispose()
    if any(o.status != "ok" for o in outcomes) or stored != args.transactions:
        sys.exit(f"sync incomplete: {outcomes} stored={stored}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"store: {engine.dialect.name}")
    print(f"transactions: {stored}")
    print(f"wall time: {wall:.2f} s")
    print(f"CPU time (whole process, emulator included): {cpu:.2f} s")
    print(f"throughput: {stored / wall:,.0f} transactions/s")
    print(f"peak RSS (whole process, emulator included): {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
