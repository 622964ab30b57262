"""Independent checks of the exports (issue 17), run by ExportsTests with the project venv's Python.

    check_exports.py xpt DIR        read every DIR/*.xpt with pyreadstat; print {dataset: {columns, labels, rows}} as JSON
    check_exports.py odm FILE       validate FILE against the ODM 1.3.2 XSD bundled in odmlib (lxml, offline)
    check_exports.py define FILE    validate FILE against the Define-XML 2.1 XSD bundled in odmlib (lxml, offline)
    check_exports.py json DIR SCHEMA  validate every DIR/*.json against Dataset-JSON 1.1's JSON schema (SCHEMA, as the
                                      CDISC CORE engine ships it) and check what the schema cannot (check_dataset_json)

Each validation prints "valid", or the validator's errors and exits 1.
"""
import json
import math
import os
import sys


def read_xpt(directory):
    import pyreadstat

    out = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".xpt"):
            continue
        frame, meta = pyreadstat.read_xport(os.path.join(directory, name))
        rows = []
        for record in frame.itertuples(index=False):
            row = []
            for value in record:
                if isinstance(value, float) and math.isnan(value):
                    row.append(None)
                elif isinstance(value, str) and value == "":
                    row.append(None)
                else:
                    row.append(value)
            rows.append(row)
        out[meta.table_name] = {
            "columns": list(meta.column_names),
            "labels": list(meta.column_labels),
            "file_label": meta.file_label,
            "rows": rows,
        }
    print(json.dumps(out, default=str))


def schema_path(*parts):
    import odmlib

    return os.path.join(os.path.dirname(odmlib.__file__), "schemas", *parts)


def validate(xml_file, xsd):
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(xsd))
    document = etree.parse(xml_file)
    if schema.validate(document):
        print("valid")
        return 0
    for error in schema.error_log:
        print(f"line {error.line}: {error.message}")
    return 1


def check_dataset_json(directory, schema_file):
    """Each document against Dataset-JSON 1.1's JSON schema (jsonschema), then what a schema cannot say: the required
    members and their types, rows of the columns' length whose values fit their column's type, and records equal to
    the number of rows."""
    import jsonschema

    with open(schema_file, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.validators.validator_for(schema)(schema)
    required = {
        "datasetJSONCreationDateTime": str, "datasetJSONVersion": str, "itemGroupOID": str, "records": int,
        "name": str, "label": str, "columns": list, "rows": list,
    }
    data_types = {"string", "integer", "decimal", "float", "double", "boolean", "datetime", "date", "time", "URI"}
    problems = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            doc = json.load(f)
        for error in validator.iter_errors(doc):
            problems.append(f"{name}: schema: {error.message} at {list(error.absolute_path)}")
        for key, kind in required.items():
            if not isinstance(doc.get(key), kind):
                problems.append(f"{name}: {key} missing or not {kind.__name__}")
        if not str(doc.get("datasetJSONVersion", "")).startswith("1.1"):
            problems.append(f"{name}: datasetJSONVersion is not 1.1.x")
        columns = doc.get("columns", [])
        for c in columns:
            for key in ("itemOID", "name", "label", "dataType"):
                if not isinstance(c.get(key), str):
                    problems.append(f"{name}: column {c.get('name')} has no {key}")
            if c.get("dataType") not in data_types:
                problems.append(f"{name}: column {c.get('name')} dataType {c.get('dataType')}")
        if doc.get("records") != len(doc.get("rows", [])):
            problems.append(f"{name}: records {doc.get('records')} but {len(doc.get('rows', []))} rows")
        for i, row in enumerate(doc.get("rows", [])):
            if len(row) != len(columns):
                problems.append(f"{name}: row {i} has {len(row)} values for {len(columns)} columns")
                continue
            for value, c in zip(row, columns):
                t = c.get("dataType")
                if value is None:
                    continue
                if t == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
                    problems.append(f"{name}: row {i} {c['name']} {value!r} is not an integer")
                if t in ("double", "float", "decimal") and not isinstance(value, (int, float)):
                    problems.append(f"{name}: row {i} {c['name']} {value!r} is not a number")
                if t in ("string", "datetime") and not isinstance(value, str):
                    problems.append(f"{name}: row {i} {c['name']} {value!r} is not a string")
                if t == "string" and isinstance(value, str) and "length" in c and len(value.encode()) > c["length"]:
                    problems.append(f"{name}: row {i} {c['name']} longer than its length {c['length']}")
    if problems:
        print("\n".join(problems[:50]))
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "xpt":
        read_xpt(target)
    elif mode == "odm":
        sys.exit(validate(target, schema_path("odm", "1.3.2", "ODM1-3-2.xsd")))
    elif mode == "define":
        sys.exit(validate(target, schema_path("define", "2.1", "define2-1-0.xsd")))
    elif mode == "json":
        sys.exit(check_dataset_json(target, sys.argv[3]))
    else:
        sys.exit(f"unknown mode {mode}")
