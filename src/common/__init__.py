"""Code every stage shares: configuration, the lake store, secrets, database access,
the source-table contract and logging/metrics. Shipped in every Lambda zip."""
