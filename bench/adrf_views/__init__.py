"""A gateway with an async DRF (adrf) twin of GET /v1/models, for bench.view_bench."""
