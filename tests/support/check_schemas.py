#!/usr/bin/python3
"""Checks schemas/: every schema is a valid draft 2020-12 schema with the right $id, and every
example under schemas/examples/ (<schema>.valid*.json or <schema>.invalid*.json) is accepted or
refused as its name says. Exits 1 on any surprise. Run with /usr/bin/python3 (python3-jsonschema).
"""

import pathlib
import sys

import jsonschema

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fogschema  # noqa: E402


def check(verbose):
    problems = []
    all_schemas = fogschema.schemas()
    if not all_schemas:
        problems.append(f"no schemas in {fogschema.SCHEMA_DIR}")
    for name, schema in all_schemas.items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            problems.append(f"{name}.json is not a valid schema: {e.message}")
        if schema.get("$schema") != fogschema.DIALECT:
            problems.append(f"{name}.json: $schema is not {fogschema.DIALECT}")
        if schema.get("$id") != f"{fogschema.ID_BASE}{name}.json":
            problems.append(f"{name}.json: $id is not {fogschema.ID_BASE}{name}.json")

    seen = {name: {"valid": 0, "invalid": 0} for name in all_schemas}
    for path in sorted((fogschema.SCHEMA_DIR / "examples").glob("*.json")):
        name, _, rest = path.name.partition(".")
        kind = "valid" if rest.startswith("valid") else "invalid" if rest.startswith("invalid") else None
        if name not in all_schemas or kind is None:
            problems.append(f"{path.name}: name is not <schema>.valid*.json or <schema>.invalid*.json")
            continue
        seen[name][kind] += 1
        try:
            instance = fogschema.load_strict(path)
            found = fogschema.errors(instance, name)
        except (ValueError, jsonschema.RefResolutionError) as e:
            problems.append(f"{path.name}: {e}")
            continue
        if kind == "valid" and found:
            problems.append(f"{path.name}: expected valid, got: " + "; ".join(found))
        elif kind == "invalid" and not found:
            problems.append(f"{path.name}: expected invalid, but it matches {name}.json")
        elif verbose:
            print(f"ok  {path.name}" + (f"  ({found[0]})" if found else ""))
    for name, counts in seen.items():
        for kind, count in counts.items():
            if count == 0:
                problems.append(f"{name}.json has no {kind} example")
    return problems, sum(sum(c.values()) for c in seen.values())


def main():
    problems, examples = check("-v" in sys.argv[1:])
    for p in problems:
        print(f"check_schemas: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_schemas: {len(fogschema.schemas())} schemas and {examples} examples as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
