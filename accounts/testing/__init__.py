"""Fakes for the accounts tests: an OpenID Connect provider on 127.0.0.1."""
