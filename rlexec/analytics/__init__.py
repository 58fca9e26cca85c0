"""Analytics over the store: policy metrics trends (``metrics``) and exports of the audit trail
to CSV / Parquet (``export``). The SQL views are created by the migrations (docs/analytics.md)."""
