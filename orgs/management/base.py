"""Shared plumbing for the operator commands: `--json`, one-line errors, helpers."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from accounts.selectors import user_get
from accounts.services import user_get_or_register
from janserver.errors import APIError, api_error_from_exception
from orgs.models import Organization
from orgs.selectors import organization_get

ResultT = TypeVar("ResultT")

ORG_HELP = "Organization public id (org_…) or 'default' for the default organization."


def one_line(message: object) -> str:
    """Collapse a message onto one line, as the command-line error contract requires."""
    return " ".join(str(message).split())


@contextmanager
def command_errors() -> Iterator[None]:
    """Turn service errors (APIError, Django ValidationError) into one-line CommandErrors."""
    try:
        yield
    except APIError as exc:
        raise CommandError(one_line(exc.message)) from exc
    except ValidationError as exc:
        error = api_error_from_exception(exc)
        message = error.message if error is not None else "; ".join(exc.messages)
        raise CommandError(one_line(message)) from exc


def iso(value: datetime | None) -> str | None:
    """Return an ISO 8601 timestamp for JSON output, or None."""
    return value.isoformat() if value is not None else None


def short_time(value: datetime | None) -> str:
    """Return a compact UTC timestamp for tables, or "-"."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def organization_resolve(public_id: str) -> Organization:
    """Return the organization for an `--org` value (a public id or "default")."""
    return organization_get(public_id=public_id.strip())


def user_resolve(email: str, *, register: bool) -> User:
    """Return the user with this email, registering one when `register` is set."""
    if register:
        return user_get_or_register(email=email)[0]
    return user_get(email=email)


class OrgsCommand(BaseCommand, Generic[ResultT]):
    """Base for the operator commands.

    A subclass implements `run()` (parse options, call services, return a result)
    plus `as_json()` and `as_text()`. The base adds `--json`, runs `run()` in one
    transaction so that a failure leaves nothing half-done, and reports service
    errors as one-line CommandErrors (a non-zero exit status).
    """

    verbosity: int = 1

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print exactly one JSON document on stdout instead of text.",
        )
        return parser

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        with command_errors(), transaction.atomic():
            result = self.run(*args, **options)
        if options["json"]:
            self.stdout.write(json.dumps(self.as_json(result), indent=2))
        else:
            self.stdout.write(self.as_text(result))

    def run(self, *args: Any, **options: Any) -> ResultT:
        raise NotImplementedError

    def as_json(self, result: ResultT) -> Any:
        raise NotImplementedError

    def as_text(self, result: ResultT) -> str:
        raise NotImplementedError
