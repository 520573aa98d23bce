"""Public identifiers: a type prefix plus a random lowercase alphanumeric string."""

import os
import string

ALPHABET = string.digits + string.ascii_lowercase

# 36 symbols: 24 characters carry ~124 bits, 42 characters ~217 bits.
SHORT_LENGTH = 24
LONG_LENGTH = 42


# Bytes 0..251 map onto the alphabet (252 = 7 x 36, so no symbol is favoured); 252..255
# are dropped. bytes.translate does the mapping in C: ids are made on every request.
_TABLE = bytes(ord(ALPHABET[i % 36]) for i in range(256))
_DROPPED = bytes(range(252, 256))


def random_string(length: int) -> str:
    """Return `length` characters drawn uniformly from [0-9a-z] with the OS CSPRNG."""
    out = b""
    while len(out) < length:
        out += os.urandom(length + 8).translate(_TABLE, _DROPPED)
    return out[:length].decode()


def new_id(prefix: str, length: int = SHORT_LENGTH) -> str:
    """Return a public id such as ``org_3k9…`` for the given prefix."""
    return f"{prefix}_{random_string(length)}"


# Module-level defaults so that migrations can serialize them.
def new_user_id() -> str:
    return new_id("user")


def new_org_id() -> str:
    return new_id("org")


def new_project_id() -> str:
    return new_id("proj")


def new_key_id() -> str:
    return new_id("key")


def new_invite_id() -> str:
    return new_id("invite")


def new_workspace_id() -> str:
    return new_id("ws")


def new_conversation_id() -> str:
    return new_id("conv", LONG_LENGTH)


def new_item_id() -> str:
    return new_id("msg", LONG_LENGTH)


def new_response_id() -> str:
    return new_id("resp", LONG_LENGTH)


def new_provider_id() -> str:
    return new_id("prov")


def new_provider_model_id() -> str:
    return new_id("pmdl")


def new_request_id() -> str:
    return new_id("req")


def new_session_id() -> str:
    return new_id("sess", LONG_LENGTH)


def new_mcp_server_id() -> str:
    return new_id("mcpsrv")


def new_tool_call_id() -> str:
    return new_id("toolcall")
