"""`manage.py removemcpserver mcpsrv_…`: remove a registered MCP server."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orgs.management.base import command_errors
from tools.selectors import mcp_server_find
from tools.services import mcp_server_delete


class Command(BaseCommand):
    help = "Remove a registered MCP server (its tool call records stay)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("server", help="The server's id (mcpsrv_…).")

    def handle(self, *args: Any, **options: Any) -> None:
        with command_errors():
            server = mcp_server_find(reference=options["server"])
            mcp_server_delete(server=server)
        self.stdout.write(f"Removed MCP server {server.label} ({options['server']}).")
