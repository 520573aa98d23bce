"""`manage.py listmcpservers [--org ORG] [--json]`: the registered MCP servers."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orgs.management.base import ORG_HELP, command_errors, organization_resolve
from tools.management.commands.addmcpserver import server_json
from tools.selectors import mcp_server_list, mcp_server_list_all


class Command(BaseCommand):
    help = "List registered MCP servers (never their auth headers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", metavar="ORG", help=ORG_HELP)
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        with command_errors():
            servers = (
                mcp_server_list(organization=organization_resolve(options["org"]))
                if options["org"]
                else mcp_server_list_all()
            )
            rows = [
                server_json(server) for server in servers.order_by("created_at", "pk")
            ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            self.stdout.write(
                f"{row['id']}  {row['organization']}  {row['label']}  {row['url']}  "
                f"{row['status']}{'' if row['active'] else '  (inactive)'}"
            )
