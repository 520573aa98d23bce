"""The `manage.py` commands of the orgs app."""
