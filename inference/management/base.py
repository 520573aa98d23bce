"""Shared plumbing for the provider commands: the orgs commands' contract, no transaction."""

import json
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from inference.models import Provider
from orgs.management.base import OrgsCommand, command_errors, one_line

ResultT = TypeVar("ResultT")


class ProviderCommand(OrgsCommand[ResultT]):
    """Base for the provider commands: `--json`, one-line errors, exit status 1 on failure.

    Unlike OrgsCommand, `run()` is not wrapped in a transaction: the services commit
    their own writes, and a model sync must not hold the database while it waits for
    an upstream. `failure()` may report, after the output, that the command failed.
    """

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        try:
            with command_errors():
                result = self.run(*args, **options)
        except ImproperlyConfigured as exc:  # an unreadable provider key
            raise CommandError(one_line(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(self.as_json(result), indent=2))
        else:
            self.stdout.write(self.as_text(result))
        failure = self.failure(result)
        if failure:
            raise CommandError(one_line(failure))

    def failure(self, result: ResultT) -> str | None:
        return None


def provider_json(provider: Provider) -> dict[str, Any]:
    """Return a provider for `--json` output (never its API key, only the hint)."""
    return {
        "id": provider.public_id,
        "name": provider.name,
        "vendor": provider.vendor,
        "base_url": provider.base_url,
        "scope": provider.scope,
        "organization": provider.organization.public_id
        if provider.organization
        else None,
        "project": provider.project.public_id if provider.project else None,
        "active": provider.active,
        "weight": provider.weight,
        "api_key_hint": provider.api_key_hint or None,
        "models": active_model_ids(provider),
    }


def active_model_ids(provider: Provider) -> list[str]:
    """Return the ids of the provider's active models, sorted."""
    return sorted(model.model_id for model in provider.models.all() if model.active)


def provider_label(provider: Provider) -> str:
    return f"{provider.name!r} ({provider.public_id})"
