"""Run the fake vLLM server (the upstream of tests and benchmarks)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.testing import fake_vllm


class Command(BaseCommand):
    help = (
        "Run a fake vLLM OpenAI-compatible server (same options as "
        "`python -m inference.testing.fake_vllm`)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        fake_vllm.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            fake_vllm.run(options, self._write)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot run the fake vLLM server: {exc}") from exc
        except KeyboardInterrupt:
            pass

    def _write(self, text: str) -> None:
        self.stdout.write(text, ending="")
        self.stdout.flush()
