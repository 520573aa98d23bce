"""Operator commands for tenancy: organizations, projects and API keys."""
