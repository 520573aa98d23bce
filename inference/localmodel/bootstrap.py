"""What `localmodel serve` sets up around the gateway: provider "Jan", a key, a banner."""

import io
import json
import subprocess
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from inference.localmodel.install import MODEL_ALIAS
from inference.localmodel.processes import answers, local_host, shown
from inference.models import ProviderModel, ProviderVendor
from inference.services import jan_provider_setup, provider_update
from janserver.errors import Unauthenticated
from orgs.services import api_key_verify

ADMIN_COMMAND = ".venv/bin/python manage.py createsuperuser"
KEY_OWNER = "local@example.com"
KEY_COMMAND = f"createapikey --kind project --org default --owner {KEY_OWNER}"
# SmolLM2-135M answers this one reliably ("The capital of France is Paris."); asked
# just "What is the capital of France?" it mostly rambles in French.
QUESTION = "What is the capital of France? Answer in one sentence."


def curl_body(model: str) -> str:
    chat = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    return (
        "-H 'Content-Type: application/json' "
        f"-d '{json.dumps(chat, separators=(',', ':'))}'"
    )


def provider_bootstrap(*, model_url: str | None) -> str | None:
    """Run `bootstrap`, then register the local model as the provider "Jan".

    Return a line describing the provider, or None when none was registered.
    """
    call_command("bootstrap")
    if model_url is None:
        return None
    with override_settings(
        JAN_INFERENCE_SETUP=True,
        JAN_INFERENCE_MODEL_URL=model_url,
        JAN_INFERENCE_VENDOR=ProviderVendor.LLAMA_CPP,
    ):
        provider = jan_provider_setup()
    if provider is None:
        return None
    if provider.vendor != ProviderVendor.LLAMA_CPP or not provider.active:
        # llama.cpp refuses gateway headers that vLLM accepts (X-Request-Id).
        provider = provider_update(
            provider=provider, vendor=ProviderVendor.LLAMA_CPP, active=True
        )
    models = provider.models.filter(active=True).values_list("model_id", flat=True)
    return (
        f"Provider {provider.name!r} ({provider.public_id}) at "
        f"{provider.base_url}; models: {', '.join(models) or 'none'}."
    )


def api_key_keep(*, stored: Path) -> str:
    """Return a project key of local@example.com, kept in `stored` across runs."""
    if stored.exists():
        try:
            api_key_verify(secret=stored.read_text().strip())
            return stored.read_text().strip()
        except Unauthenticated:
            pass  # another database, or revoked: make a new one
    output = io.StringIO()
    call_command(
        *("createapikey", "--kind", "project", "--org", "default"),
        *("--owner", KEY_OWNER, "--name", "make run", "--json"),
        stdout=output,
    )
    secret: str = json.loads(output.getvalue())["key"]
    stored.write_text(f"{secret}\n")
    stored.chmod(0o600)
    return secret


def banner(
    *,
    host: str,
    port: int,
    gateway: subprocess.Popen[bytes],
    secret: str | None,
    stored: Path,
    served_locally: bool,
) -> str | None:
    """Once the gateway answers, its key and a curl line to try it (None: it did not)."""
    model = MODEL_ALIAS if served_locally else _some_model()
    base = f"http://{local_host(host)}:{port}"
    deadline = time.monotonic() + 60
    while not answers(f"{base}/healthcheck"):
        if gateway.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(0.2)
    lines = ["", f"janserver is ready at {base}"]
    if secret:
        lines += [f"Project API key of {KEY_OWNER} (kept in {shown(stored)}):"]
        lines += [f"  {secret}"]
    else:
        lines += ["Create a project API key (printed once):"]
        lines += [f"  KEY=$(.venv/bin/python manage.py {KEY_COMMAND})"]
    auth = f'-H "Authorization: Bearer {secret or "$KEY"}"'
    if model is None:
        lines += ["No model is registered yet; the list of models:"]
        lines += [f"  curl {base}/v1/models {auth}"]
    else:
        local = " (SmolLM2-135M-Instruct on llama.cpp)" if served_locally else ""
        lines += [f"Chat with {model}{local}:"]
        lines += [f"  curl -N {base}/v1/chat/completions {auth} {curl_body(model)}"]
    return "\n".join([*lines, *admin_hint(base), ""])


def admin_hint(base: str) -> list[str]:
    """How to create the first admin user, while there is none."""
    if get_user_model().objects.filter(is_superuser=True, is_active=True).exists():
        return [f"Admin: {base}/admin/"]
    return [
        f"No admin user yet: create the first one (then log in at {base}/admin/) with",
        f"  {ADMIN_COMMAND}",
    ]


def _some_model() -> str | None:
    """Jan's model when some provider serves it, else any served model, else None."""
    served = set(
        ProviderModel.objects.filter(active=True, provider__active=True).values_list(
            "model_id", flat=True
        )
    )
    return MODEL_ALIAS if MODEL_ALIAS in served else min(served, default=None)
