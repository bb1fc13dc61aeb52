"""Small scenarios for the experiment tests: the plug-in shop, short runs, two price arms."""

from __future__ import annotations

from pathlib import Path

import pytest

SHOP = """
name = "shop"
seed = 3
duration = 50.0
replications = 2
[mechanisms.posted_price]
stock = 40
[populations.shoppers]
model = "shoppers"
count = 8
arrival = { process = "poisson", rate = 0.3 }
[arms.list]
[arms.sale]
set = { "mechanisms.posted_price.price" = 80 }
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP)
    return path


@pytest.fixture(scope="session")
def stored_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(store URL, sweep id): the shop over two crowd sizes, two arms, six seeds, in SQLite."""
    from flagship.sandbox import load_scenario
    from flagship.sandbox._executors import InlineExecutor
    from flagship.sandbox._sweep import Axis, SweepSpec, plan_sweep, run_sweep
    from flagship.telemetry import Store

    root = tmp_path_factory.mktemp("sweep")
    path = root / "shop.toml"
    path.write_text(SHOP)
    plan = plan_sweep(load_scenario(path), SweepSpec(grids=(Axis("populations.shoppers.count", (4, 12)),),
                                                     replications=6))
    url = f"sqlite:///{root / 'sweep.db'}"
    with Store.open(url) as store:
        run_sweep(plan, store, InlineExecutor(), window=1)
    return url, plan.sweep_id
