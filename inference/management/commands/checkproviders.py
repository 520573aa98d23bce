"""`manage.py checkproviders`: probe every provider and list which answer."""

from typing import Any

from inference.management.base import ProviderCommand, active_model_ids
from inference.models import Provider
from inference.selectors import provider_list_all
from inference.services import providers_check

Checked = list[tuple[Provider, bool]]


class Command(ProviderCommand[Checked]):
    help = (
        "Probe each provider with GET /models and print provider, URL, status and "
        "model count. Exits with status 1 if an active provider is unreachable."
    )

    def run(self, **options: Any) -> Checked:
        return providers_check(providers=provider_list_all())

    def as_json(self, result: Checked) -> list[dict[str, Any]]:
        return [
            {
                "id": provider.public_id,
                "name": provider.name,
                "base_url": provider.base_url,
                "active": provider.active,
                "ok": ok,
                "models": len(active_model_ids(provider)),
            }
            for provider, ok in result
        ]

    def as_text(self, result: Checked) -> str:
        if not result:
            return "No providers are registered."
        rows = [("PROVIDER", "NAME", "URL", "STATUS", "MODELS")]
        for provider, ok in result:
            status = "ok" if ok else "unreachable"
            if not provider.active:
                status += " (inactive)"
            count = str(len(active_model_ids(provider)))
            rows.append(
                (provider.public_id, provider.name, provider.base_url, status, count)
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
            for row in rows
        )

    def failure(self, result: Checked) -> str | None:
        down = [p for p, ok in result if p.active and not ok]
        if not down:
            return None
        names = ", ".join(f"{p.name} ({p.public_id})" for p in down)
        return f"{len(down)} active provider(s) unreachable: {names}."
