#!/usr/bin/env python3
"""Validate JSON Lines of Sluice records against the JSON Schemas in schema/.

Usage: validate_records.py SCHEMA_DIR KIND FILE [KIND FILE ...]
KIND is one of workers, patches, gates, costs, tasks. Prints one line per file and exits 1 on
the first invalid record (naming the line and the failing field), 2 on usage errors.
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    sys.stderr.write("error: the Python package jsonschema is not installed (pip install jsonschema)\n")
    sys.exit(2)

SCHEMAS = {
    "workers": "worker_lifecycle.v1.json",
    "patches": "patch_ledger_entry.v1.json",
    "gates": "test_gate.v1.json",
    "costs": "cost_record.v1.json",
    "tasks": "task.v1.json",
}


def main(argv):
    if len(argv) < 4 or len(argv) % 2 != 0:
        sys.stderr.write(__doc__)
        return 2
    schema_dir = argv[1]
    for kind, path in zip(argv[2::2], argv[3::2]):
        if kind not in SCHEMAS:
            sys.stderr.write(f"error: unknown kind {kind!r}\n")
            return 2
        with open(f"{schema_dir}/{SCHEMAS[kind]}", encoding="utf-8") as handle:
            schema = json.load(handle)
        jsonschema.Draft7Validator.check_schema(schema)
        validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        count = 0
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                record = json.loads(line)
                errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
                if errors:
                    error = errors[0]
                    where = "/".join(str(p) for p in error.path) or "(record)"
                    sys.stderr.write(f"error: {path}:{number}: {kind} record invalid at {where}: {error.message}\n")
                    return 1
                count += 1
        if count == 0:
            sys.stderr.write(f"error: {path}: no {kind} records to validate\n")
            return 1
        print(f"{kind}: {count} records valid against {SCHEMAS[kind]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
