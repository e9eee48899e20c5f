"""The benchmark (`make bench`): metricbook against the floor, pandas and itself (incremental)."""
