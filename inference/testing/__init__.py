"""Test and benchmark helpers for the inference app (a fake vLLM upstream)."""
