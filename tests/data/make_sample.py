"""Regenerate the sample recorded-data files: ``python tests/data/make_sample.py``.

600 one-second steps of the equity preset (seed 42, from 10:00), five levels a side.
"""

from pathlib import Path

from rlexec.market import make_market
from rlexec.market.recorded import write_recorded_csv

HERE = Path(__file__).parent


def main() -> None:
    market = make_market("equity")
    market.reset(42, start_time_of_day_secs=10 * 3600)
    write_recorded_csv(market, 600, HERE / "sample_snapshots.csv", HERE / "sample_trades.csv")


if __name__ == "__main__":
    main()
