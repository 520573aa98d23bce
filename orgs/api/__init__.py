"""The organization admin API: /v1/organization/*."""
