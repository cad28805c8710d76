"""Loads fogbridge's JSON Schemas (schemas/*.json, draft 2020-12) and validates instances.

Cross-file references ("reading.json#/$defs/id") resolve through a store keyed by each
schema's $id, so nothing is fetched from the network. Thread-safe after the first call.
"""

import functools
import json
import math
import pathlib

import jsonschema

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "schemas"
ID_BASE = "https://fogbridge.invalid/schemas/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _reject_constant(name):
    raise ValueError(f"not JSON: {name}")


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def loads_strict(text):
    """json.loads without NaN/Infinity (Python's json accepts them) and without duplicate keys."""
    return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)


def load_strict(path):
    return loads_strict(pathlib.Path(path).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def schemas():
    """{name: schema} for every schemas/<name>.json."""
    return {p.stem: load_strict(p) for p in sorted(SCHEMA_DIR.glob("*.json"))}


@functools.lru_cache(maxsize=None)
def validator(name):
    """A Draft202012Validator for schemas/<name>.json that resolves references locally."""
    all_schemas = schemas()
    if name not in all_schemas:
        raise KeyError(f"no schema named {name!r} in {SCHEMA_DIR}")
    store = {s["$id"]: s for s in all_schemas.values() if "$id" in s}
    schema = all_schemas[name]
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def _non_finite_numbers(instance, path="$"):
    if isinstance(instance, float) and not math.isfinite(instance):
        yield path
    elif isinstance(instance, dict):
        for key, value in instance.items():
            yield from _non_finite_numbers(value, f"{path}[{key!r}]")
    elif isinstance(instance, list):
        for i, value in enumerate(instance):
            yield from _non_finite_numbers(value, f"{path}[{i}]")


def errors(instance, name):
    """Every reason instance does not match schemas/<name>.json, as readable lines.

    bytes are JSON text (an MQTT payload) and are parsed strictly; anything else, str included,
    is taken as an already parsed instance.
    """
    if isinstance(instance, (bytes, bytearray)):
        instance = loads_strict(bytes(instance).decode("utf-8"))
    # JSON cannot carry NaN or infinity, but a Python float can; the schemas say "number".
    found = [f"{p}: not a finite number" for p in _non_finite_numbers(instance)]
    for error in sorted(validator(name).iter_errors(instance), key=lambda e: list(e.path)):
        where = "$" + "".join(f"[{p!r}]" for p in error.absolute_path)
        found.append(f"{where}: {error.message}")
    return found


def validate(instance, name):
    """Raises AssertionError listing every error unless instance matches schemas/<name>.json.

    instance is parsed JSON, or JSON text as bytes (an MQTT payload), which is parsed strictly.
    Returns the parsed instance.
    """
    if isinstance(instance, (bytes, bytearray)):
        instance = loads_strict(bytes(instance).decode("utf-8"))
    found = errors(instance, name)
    if found:
        raise AssertionError(f"does not match schema {name}.json:\n  " + "\n  ".join(found))
    return instance
