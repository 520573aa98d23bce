"""`manage.py addmcpserver LABEL --org ORG --url URL [...]`: register an MCP server."""

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orgs.management.base import ORG_HELP, command_errors, organization_resolve
from tools.services import mcp_server_register


def server_json(server: Any) -> dict[str, Any]:
    """A registered server for `--json` output (never its auth header, only the hint)."""
    return {
        "id": server.public_id,
        "organization": server.organization.public_id,
        "label": server.label,
        "url": server.url,
        "allowed_tools": server.allowed_tools,
        "all_projects": server.all_projects,
        "projects": sorted(p.public_id for p in server.projects.all()),
        "active": server.active,
        "status": server.status,
        "auth_header_hint": server.auth_header_hint or None,
    }


class Command(BaseCommand):
    help = (
        "Register an organization's MCP server (streamable HTTP): its allowed tools "
        "appear on /v1/mcp as LABEL__TOOL for the projects that may use it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "label", help="Names its tools (label__tool); unique per org."
        )
        parser.add_argument("--org", required=True, metavar="ORG", help=ORG_HELP)
        parser.add_argument("--url", required=True, help="The server's MCP endpoint.")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--auth-header",
            metavar="VALUE",
            help="Value of the header sent to the server, e.g. 'Bearer …' ('-' reads "
            "it from stdin). Stored encrypted, never printed.",
        )
        parser.add_argument(
            "--auth-header-name", metavar="NAME", help="Default: Authorization."
        )
        parser.add_argument(
            "--tool",
            action="append",
            dest="tools",
            metavar="NAME",
            help="A tool callers may use (repeat); default: every tool.",
        )
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument(
            "--all-projects", action="store_true", help="Every project may use it."
        )
        scope.add_argument(
            "--project",
            action="append",
            dest="projects",
            metavar="PROJ",
            help="A project (proj_…) that may use it (repeat).",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        header = options["auth_header"]
        if header == "-":
            header = sys.stdin.readline().strip()
        with command_errors():
            server = mcp_server_register(
                organization=organization_resolve(options["org"]),
                label=options["label"],
                url=options["url"],
                description=options["description"],
                auth_header=header,
                auth_header_name=options["auth_header_name"],
                allowed_tools=options["tools"],
                all_projects=options["all_projects"],
                projects=options["projects"] or (),
            )
        if options["json"]:
            self.stdout.write(json.dumps(server_json(server), indent=2))
            return
        scope = (
            "every project"
            if server.all_projects
            else ", ".join(sorted(p.public_id for p in server.projects.all()))
        )
        self.stdout.write(
            f"Registered MCP server {server.label} ({server.public_id}) at {server.url} "
            f"for {scope} of {server.organization.public_id}."
        )
