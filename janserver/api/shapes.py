"""OpenAI's small response shapes shared by every app's API."""

from typing import Any


def deleted_body(object_type: str, public_id: str) -> dict[str, Any]:
    """Return OpenAI's deletion confirmation of an object of `object_type`."""
    return {"object": f"{object_type}.deleted", "id": public_id, "deleted": True}
