"""Provider writes: providers and their API keys, model syncs, health checks, Jan's setup."""

from inference.services.providers import (
    API_KEY_MAX_LENGTH,
    NAME_MAX_LENGTH,
    WEIGHT_MAX,
    base_url_normalize,
    provider_create,
    provider_delete,
    provider_update,
)
from inference.services.sync import (
    JAN_PROVIDER_NAME,
    ModelsSync,
    jan_provider_setup,
    provider_models_sync,
    provider_reconfigure,
    provider_register,
    providers_check,
)

__all__ = [
    "API_KEY_MAX_LENGTH",
    "JAN_PROVIDER_NAME",
    "NAME_MAX_LENGTH",
    "WEIGHT_MAX",
    "ModelsSync",
    "base_url_normalize",
    "jan_provider_setup",
    "provider_create",
    "provider_delete",
    "provider_models_sync",
    "provider_reconfigure",
    "provider_register",
    "provider_update",
    "providers_check",
]
