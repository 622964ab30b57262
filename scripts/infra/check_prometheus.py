#!/usr/bin/env python3
"""Checks the alert rules and the Grafana dashboard against the declared metric list.

  check_prometheus.py             promtool check rules + promtool test rules, then: every alert has a unit test in
                                  which it fires; every metric a rule or panel reads is declared in
                                  infra/prometheus/metrics.txt; the dashboard parses and every panel has a query
  check_prometheus.py --self-test broken copies (bad PromQL, an undeclared metric, an alert no test makes fire, a
                                  dashboard that does not parse) must each be rejected
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

from rejection import rejected

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROM = ROOT / "infra/prometheus"
DASHBOARD = ROOT / "infra/grafana/dashboard.json"
FUNCTIONS = {"sum", "rate", "max", "min", "avg", "count", "absent", "time", "histogram_quantile", "by", "and", "or",
             "unless", "without", "on", "ignoring", "increase", "irate", "humanize", "bool", "le", "offset"}


def declared_metrics(directory):
    names = set()
    for line in (directory / "metrics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            names.add(line.split()[0])
    return names


def metrics_in(expr):
    expr = re.sub(r'\{[^}]*\}', "", expr)           # label matchers
    expr = re.sub(r'"[^"]*"', "", expr)              # strings
    expr = re.sub(r"\[[^\]]*\]", "", expr)           # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    found = set()
    for token in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if token in FUNCTIONS or re.fullmatch(r"[0-9.e]+", token):
            continue
        found.add(re.sub(r"_(bucket|sum|count)$", "", token) if token.endswith(("_bucket",)) else token)
    return found


def check(directory, dashboard, use_promtool=True):
    problems = []
    promtool = shutil.which("promtool")
    if not use_promtool:
        pass
    elif promtool is None:
        problems.append("promtool is not installed (Debian package prometheus; scripts/check-infra installs it)")
    else:
        for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
            result = subprocess.run([promtool, *args], cwd=directory, capture_output=True, text=True)
            if result.returncode != 0:
                problems.append(f"promtool {' '.join(args)}: {(result.stdout + result.stderr).strip()}")
    declared = declared_metrics(directory)
    try:
        rules = yaml.safe_load((directory / "alerts.yml").read_text())
        tests = yaml.safe_load((directory / "alerts_test.yml").read_text())
    except yaml.YAMLError as error:
        return problems + [f"YAML does not parse: {error}"]
    alerts = {}
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule:
                alerts[rule["alert"]] = rule
                for metric in sorted(metrics_in(rule["expr"]) - declared):
                    problems.append(f"alert {rule['alert']} reads {metric}, which infra/prometheus/metrics.txt does not declare")
                if not str(rule.get("annotations", {}).get("runbook_url", "")).startswith("docs/operations.md#"):
                    problems.append(f"alert {rule['alert']} has no runbook_url into docs/operations.md")
    fired = {case["alertname"] for test in tests.get("tests", []) for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    for name in sorted(set(alerts) - fired):
        problems.append(f"alert {name} has no unit test in alerts_test.yml in which it fires")
    runbook = (ROOT / "docs/operations.md").read_text() if (ROOT / "docs/operations.md").exists() else ""
    for name in sorted(alerts):
        if f"### {name}" not in runbook:
            problems.append(f"alert {name} has no section '### {name}' in docs/operations.md")
    try:
        board = json.loads(pathlib.Path(dashboard).read_text())
    except (OSError, json.JSONDecodeError) as error:
        return problems + [f"dashboard does not parse: {error}"]
    panels = board.get("panels") or []
    if not board.get("title") or not panels:
        problems.append("dashboard has no title or no panels")
    used = set()
    for panel in panels:
        exprs = [t.get("expr", "") for t in panel.get("targets") or []]
        if not any(exprs):
            problems.append(f"dashboard panel '{panel.get('title')}' has no query")
        for expr in exprs:
            metrics = metrics_in(expr)
            used |= metrics
            for metric in sorted(metrics - declared):
                problems.append(f"dashboard panel '{panel.get('title')}' reads {metric}, which metrics.txt does not declare")
    for metric in sorted(declared - used):
        problems.append(f"dashboard shows nothing of {metric}")
    return problems


def self_test():
    status = 0
    base = check(PROM, DASHBOARD)
    if base:
        print("the shipped rules and dashboard do not pass:\n  " + "\n  ".join(base))
        return 1
    cases = [
        ("invalid PromQL", "promtool check rules", "alerts.yml", lambda t: t.replace("expr: projector_ready == 0", "expr: projector_ready == == 0")),
        ("undeclared metric", "does not declare", "alerts.yml", lambda t: t.replace("expr: projector_ready == 0", "expr: projector_readyness == 0")),
        ("alert never fires in a test", "in which it fires", "alerts.yml", lambda t: t + "  - alert: Untested\n    expr: up == 2\n    annotations: {runbook_url: docs/operations.md#untested}\n"),
        ("threshold changed under the tests", "promtool test rules", "alerts.yml", lambda t: t.replace("> 3600", "> 36000")),
        ("dashboard does not parse", "dashboard does not parse", "dashboard.json", lambda t: t[:-10]),
        ("dashboard reads an undeclared metric", "does not declare", "dashboard.json", lambda t: t.replace("projector_lag_records", "projector_lagg_records", 1)),
    ]
    for label, expected, target, mutate in cases:
        with tempfile.TemporaryDirectory() as scratch:
            scratch = pathlib.Path(scratch)
            for name in ("alerts.yml", "alerts_test.yml", "metrics.txt"):
                shutil.copy(PROM / name, scratch / name)
            shutil.copy(DASHBOARD, scratch / "dashboard.json")
            path = scratch / target
            path.write_text(mutate(path.read_text()))
            # promtool (seconds per run) only where the case is about it; the other checks are Python's.
            problems = check(scratch, scratch / "dashboard.json", use_promtool="promtool" in expected)
        if not rejected("RULE OR DASHBOARD", label, expected, problems):
            status = 1
    return status


def main(argv):
    if argv[1:2] == ["--self-test"]:
        return self_test()
    problems = check(PROM, DASHBOARD)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("prometheus: rules, rule tests and dashboard valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
