"""`manage.py syncmodels [PROVIDER]`: fetch the model lists of providers."""

from typing import Any

from django.core.management.base import CommandParser

from inference.crypto import ProviderKeyUnreadable
from inference.management.base import ProviderCommand, active_model_ids, provider_label
from inference.models import Provider
from inference.selectors import provider_find, provider_list_all
from inference.services import ModelsSync, provider_models_sync
from janserver.errors import ServiceUnavailable, UpstreamError, UpstreamTimeout

Outcome = tuple[Provider, ModelsSync | None, str | None]


class Command(ProviderCommand[list[Outcome]]):
    help = (
        "Fetch GET /models from one provider (by id or name) or from every provider, "
        "and mirror it: new models are added, vanished ones deactivated. Exits with "
        "status 1 if any provider could not be synced."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "provider",
            nargs="?",
            metavar="PROVIDER_ID_OR_NAME",
            help="Provider public id (prov_…) or name; all providers when omitted.",
        )

    def run(self, *, provider: str | None, **options: Any) -> list[Outcome]:
        if provider is not None:
            # A named provider that cannot be synced is a plain one-line error.
            found = provider_find(reference=provider)
            return [(found, provider_models_sync(provider=found), None)]
        return [self._sync(each) for each in provider_list_all()]

    def _sync(self, provider: Provider) -> Outcome:
        try:
            return provider, provider_models_sync(provider=provider), None
        except (UpstreamError, UpstreamTimeout, ServiceUnavailable) as exc:
            return provider, None, exc.message
        except ProviderKeyUnreadable as exc:
            return provider, None, str(exc)

    def as_json(self, result: list[Outcome]) -> list[dict[str, Any]]:
        return [
            {
                "id": provider.public_id,
                "name": provider.name,
                "ok": error is None,
                "error": error,
                "created": counts.created if counts else 0,
                "updated": counts.updated if counts else 0,
                "deactivated": counts.deactivated if counts else 0,
                "models": active_model_ids(provider),
            }
            for provider, counts, error in result
        ]

    def as_text(self, result: list[Outcome]) -> str:
        if not result:
            return "No providers are registered."
        lines = []
        for provider, counts, error in result:
            if counts is None:
                lines.append(f"{provider_label(provider)}: not synced: {error}")
                continue
            models = ", ".join(active_model_ids(provider)) or "none"
            lines.append(
                f"{provider_label(provider)}: {counts.created} added, "
                f"{counts.updated} updated, {counts.deactivated} deactivated; "
                f"models: {models}."
            )
        return "\n".join(lines)

    def failure(self, result: list[Outcome]) -> str | None:
        failed = [provider for provider, counts, _ in result if counts is None]
        if not failed:
            return None
        return f"{len(failed)} of {len(result)} providers could not be synced."
