"""`manage.py addprovider NAME --base-url URL [...]`: register a model provider."""

import sys
from typing import Any

from django.core.management.base import CommandParser

from inference.management.base import (
    ProviderCommand,
    active_model_ids,
    provider_json,
    provider_label,
)
from inference.models import Provider, ProviderVendor
from inference.services import provider_register
from orgs.management.base import ORG_HELP, organization_resolve
from orgs.selectors import project_get

Result = tuple[Provider, str | None]


class Command(ProviderCommand[Result]):
    help = (
        "Register an OpenAI-compatible upstream (a vLLM server) and sync its models. "
        "Without --org or --project the provider is shared by every organization."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Display name, unique within its scope.")
        parser.add_argument(
            "--base-url",
            required=True,
            metavar="URL",
            help="OpenAI base URL including /v1, e.g. http://vllm:8101/v1.",
        )
        parser.add_argument(
            "--api-key",
            metavar="KEY",
            help="Bearer key the upstream expects ('-' reads it from stdin, which "
            "keeps it out of the process list). Stored encrypted, never printed.",
        )
        parser.add_argument(
            "--vendor", choices=ProviderVendor.values, default=ProviderVendor.VLLM
        )
        parser.add_argument("--org", metavar="ORG", help=ORG_HELP)
        parser.add_argument(
            "--project", metavar="PROJ", help="Project public id (proj_…)."
        )
        parser.add_argument(
            "--weight", type=int, default=1, help="Routing weight (default 1)."
        )
        parser.add_argument(
            "--no-sync",
            action="store_false",
            dest="sync",
            help="Do not fetch the upstream's models now.",
        )

    def run(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str | None,
        vendor: str,
        org: str | None,
        project: str | None,
        weight: int,
        sync: bool,
        **options: Any,
    ) -> Result:
        organization = organization_resolve(org) if org else None
        scope_project = (
            project_get(public_id=project.strip(), organization=organization)
            if project
            else None
        )
        if api_key == "-":
            api_key = sys.stdin.readline().strip()
        return provider_register(
            name=name,
            base_url=base_url,
            api_key=api_key,
            vendor=vendor,
            organization=organization,
            project=scope_project,
            weight=weight,
            sync=sync,
        )

    def as_json(self, result: Result) -> dict[str, Any]:
        provider, sync_error = result
        return provider_json(provider) | {"sync_error": sync_error}

    def as_text(self, result: Result) -> str:
        provider, sync_error = result
        where = (
            f"project {provider.project.public_id}"
            if provider.project
            else f"organization {provider.organization.public_id}"
            if provider.organization
            else "all organizations"
        )
        lines = [
            f"Registered provider {provider_label(provider)} at {provider.base_url} "
            f"for {where}."
        ]
        if sync_error:
            lines.append(f"Models not synced: {sync_error}")
        else:
            models = active_model_ids(provider)
            lines.append("Models: " + (", ".join(models) if models else "none") + ".")
        return "\n".join(lines)
