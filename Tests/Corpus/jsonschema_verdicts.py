#!/usr/bin/env python3
"""The independent validator: checks every corpus case against schemas/event-submission.schema.json
with Python's jsonschema (Draft 2020-12) and prints {"<type>#valid/<i>": true|false, ...} as JSON.

Usage: jsonschema_verdicts.py SCHEMAS_DIR CORPUS_DIR
Invalid cases are the file's first valid event with a JSON merge patch (RFC 7386) applied."""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def main(schemas_dir, corpus_dir):
    resources = []
    for path in sorted(pathlib.Path(schemas_dir).rglob("*.schema.json")):
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document)))
    registry = Registry().with_resources(resources)
    root = json.loads((pathlib.Path(schemas_dir) / "event-submission.schema.json").read_text())
    Draft202012Validator.check_schema(root)
    validator = Draft202012Validator(root, registry=registry)
    verdicts = {}
    for path in sorted(pathlib.Path(corpus_dir).glob("*.json")):
        corpus = json.loads(path.read_text())
        name = corpus["type"]
        for i, event in enumerate(corpus["valid"]):
            verdicts[f"{name}#valid/{i}"] = validator.is_valid(event)
        for i, case in enumerate(corpus["invalid"]):
            verdicts[f"{name}#invalid/{i}"] = validator.is_valid(merge_patch(corpus["valid"][0], case["patch"]))
    json.dump(verdicts, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
