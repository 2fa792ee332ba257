"""Plaid's OpenAPI spec as the arbiter: validate emulator response bodies against it.

The 3 MB YAML takes ~2 s to parse, so it is parsed once per machine (pickled under the temp
directory, keyed by the file's size and mtime) and once per process (functools.cache).
"""

from __future__ import annotations

import functools
import json
import pickle
import tempfile
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC_PATH = Path("/work/shared/plaid/plaid-openapi-2020-09-14.yml")
if not SPEC_PATH.exists():  # the repo-relative location named in architecture.md
    SPEC_PATH = Path(__file__).resolve().parents[2] / "shared/plaid/plaid-openapi-2020-09-14.yml"


@functools.cache
def load_spec() -> dict[str, Any]:
    stat = SPEC_PATH.stat()
    cache = Path(tempfile.gettempdir()) / (
        f"recon-plaid-spec-{stat.st_size}-{stat.st_mtime_ns}.pickle")
    if cache.exists():
        with cache.open("rb") as handle:
            spec: dict[str, Any] = pickle.load(handle)
            return spec
    with SPEC_PATH.open("rb") as handle:
        spec = yaml.load(handle, Loader=yaml.CSafeLoader)
    partial = cache.with_suffix(f".{id(spec)}.tmp")
    with partial.open("wb") as handle:
        pickle.dump(spec, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(cache)
    return spec


def response_schema_ref(path: str, status: int) -> str:
    """The $ref of the JSON schema the spec gives for POST path at this status (or default)."""
    responses = load_spec()["paths"][path]["post"]["responses"]
    response = responses.get(str(status)) or responses["default"]
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref


@functools.cache
def _validator(ref: str) -> OAS30Validator:
    # A root document holding the components, so every "#/components/schemas/X" resolves.
    root = {"$ref": ref, "components": load_spec()["components"]}
    return OAS30Validator(root, format_checker=oas30_format_checker)


def schema_errors(path: str, status: int, body: bytes | str) -> list[str]:
    """Every way the body breaks the spec's schema for (path, status); empty when it conforms."""
    document = json.loads(body)
    validator = _validator(response_schema_ref(path, status))
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(document)]


def assert_conforms(path: str, status: int, body: bytes | str) -> None:
    errors = schema_errors(path, status, body)
    assert not errors, f"{path} {status} breaks the spec:\n" + "\n".join(errors[:20])


def webhook_errors(schema: str, body: bytes | str) -> list[str]:
    """Every way a webhook body breaks its schema in the spec (e.g. SyncUpdatesAvailableWebhook)."""
    document = json.loads(body)
    validator = _validator(f"#/components/schemas/{schema}")
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(document)]
