#!/usr/bin/env python3
"""Checks the Kubernetes manifests under infra/kubernetes without a cluster or published schemas.

Every document must parse and carry apiVersion, kind and metadata.name. Deployments: selector labels on the pod
template, an image with a pinned tag, requests and limits for cpu and memory, runAsNonRoot, a read-only root file
system, no privilege escalation, every capability dropped, a termination grace period, a liveness probe on /health
and a readiness probe on /ready (for containers that serve a port) naming a declared port, volume mounts naming
declared volumes, and every secret-looking variable taken from a Secret by secretKeyRef (never a literal value).
Services and PodDisruptionBudgets must select a Deployment's pods (Service target ports must be declared), and every
Deployment needs a PodDisruptionBudget that does not block node drains. CronJobs (scheduled jobs): a schedule,
concurrencyPolicy Forbid, restartPolicy Never or OnFailure, and their pod template checked as a Deployment's.

  validate_kubernetes.py [DIR]        check DIR (default infra/kubernetes); exit 1 with one line per problem
  validate_kubernetes.py --self-test  break the shipped manifests one way at a time; each must be rejected
"""
import copy
import pathlib
import re
import sys

import yaml

from rejection import rejected

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|PRIVATE|_KEY$|DATABASE_URL$|^KAFKA_PROPERTIES$)")
KNOWN = {("apps/v1", "Deployment"), ("v1", "Service"), ("policy/v1", "PodDisruptionBudget"), ("v1", "ConfigMap"),
         ("batch/v1", "CronJob")}


def load(directory):
    documents = []
    for path in sorted(pathlib.Path(directory).glob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is not None:
                documents.append((f"{path.name}#{index}", doc))
    return documents


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_container(where, c, problems):
    name = c.get("name", "?")
    at = f"{where} container {name}"
    image = c.get("image", "")
    if not image or ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        problems.append(f"{at}: image '{image}' must carry a pinned tag (not latest)")
    resources = c.get("resources") or {}
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (resources.get(kind) or {}):
                problems.append(f"{at}: resources.{kind}.{r} is missing")
    sc = c.get("securityContext") or {}
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{at}: securityContext.readOnlyRootFilesystem must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{at}: securityContext.allowPrivilegeEscalation must be false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        problems.append(f"{at}: securityContext.capabilities.drop must contain ALL")
    if (sc.get("capabilities") or {}).get("add"):
        problems.append(f"{at}: securityContext.capabilities.add must be empty")
    if sc.get("privileged"):
        problems.append(f"{at}: must not be privileged")
    for env in c.get("env") or []:
        var = env.get("name", "?")
        source = env.get("valueFrom") or {}
        if SECRET_NAME.search(var) and not var.endswith("_FILE"):
            ref = source.get("secretKeyRef")
            if "value" in env or not ref:
                problems.append(f"{at}: {var} looks like a secret and must come from a Secret by secretKeyRef, not a literal value")
            elif not ref.get("name") or not ref.get("key"):
                problems.append(f"{at}: {var}: secretKeyRef needs name and key")
        elif "value" in env and re.search(r"://[^/@\s]+:[^/@\s]+@", str(env["value"])):
            problems.append(f"{at}: {var} holds a URL with a password; use a secretKeyRef")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    port_refs = set(ports) | set(ports.values())
    probes = {"livenessProbe": "/health", "readinessProbe": "/ready"}
    for probe, path in probes.items():
        spec = c.get(probe)
        if not ports:
            continue  # a container without a port (reporter watch) has nothing to probe over HTTP
        if not spec:
            problems.append(f"{at}: {probe} is missing (HTTP GET {path})")
            continue
        get = spec.get("httpGet") or {}
        if get.get("path") != path:
            problems.append(f"{at}: {probe} must GET {path}, not {get.get('path')}")
        if get.get("port") not in port_refs:
            problems.append(f"{at}: {probe} port {get.get('port')!r} is not a declared containerPort {sorted(map(str, port_refs))}")
    if c.get("startupProbe"):
        get = c["startupProbe"].get("httpGet") or {}
        if get.get("port") not in port_refs:
            problems.append(f"{at}: startupProbe port {get.get('port')!r} is not a declared containerPort")
    return ports


def check_pod(at, pod, problems):
    """A pod template's spec (a Deployment's or a CronJob's): returns the ports its containers declare."""
    if not isinstance(pod.get("terminationGracePeriodSeconds"), int):
        problems.append(f"{at}: terminationGracePeriodSeconds must be set (graceful shutdown)")
    pod_sc = pod.get("securityContext") or {}
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    ports = {}
    containers = pod.get("containers") or []
    if not containers:
        problems.append(f"{at}: no containers")
    for c in containers:
        ports.update(check_container(at, c, problems))
        if pod_sc.get("runAsNonRoot") is not True and (c.get("securityContext") or {}).get("runAsNonRoot") is not True:
            problems.append(f"{at} container {c.get('name')}: runAsNonRoot must be true")
        for mount in c.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                problems.append(f"{at}: volumeMount {mount.get('name')} names no volume")
    for vname, volume in volumes.items():
        if "secret" in volume and not (volume["secret"] or {}).get("secretName"):
            problems.append(f"{at}: secret volume {vname} needs secretName")
        if "hostPath" in volume:
            problems.append(f"{at}: volume {vname} is a hostPath (a pod must not reach into its node)")
    return ports


def check_cronjob(where, name, spec, problems):
    at = f"{where} CronJob {name}"
    if not spec.get("schedule"):
        problems.append(f"{at}: spec.schedule is missing")
    if spec.get("concurrencyPolicy") != "Forbid":
        problems.append(f"{at}: spec.concurrencyPolicy must be Forbid (two runs at once would race on the result)")
    pod = ((((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")) or {}
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append(f"{at}: the job's restartPolicy must be Never or OnFailure")
    check_pod(at, pod, problems)


def validate(documents):
    problems = []
    deployments = []
    for where, doc in documents:
        if not isinstance(doc, dict):
            problems.append(f"{where}: not a mapping")
            continue
        api, kind = doc.get("apiVersion"), doc.get("kind")
        name = (doc.get("metadata") or {}).get("name")
        if not api or not kind or not name:
            problems.append(f"{where}: apiVersion, kind and metadata.name are required")
            continue
        if (api, kind) not in KNOWN:
            problems.append(f"{where}: unexpected {api} {kind}")
        if kind == "CronJob":
            check_cronjob(where, name, doc.get("spec") or {}, problems)
        if kind == "Deployment":
            spec = doc.get("spec") or {}
            template = spec.get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            if not matches(selector, labels):
                problems.append(f"{where} Deployment {name}: spec.selector.matchLabels {selector} must match the pod template's labels")
            if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 1:
                problems.append(f"{where} Deployment {name}: spec.replicas must be at least 1")
            ports = check_pod(f"{where} Deployment {name}", template.get("spec") or {}, problems)
            deployments.append({"name": name, "labels": labels, "ports": ports, "replicas": spec.get("replicas"), "pdb": False})
    for where, doc in documents:
        if not isinstance(doc, dict):
            continue
        kind, name, spec = doc.get("kind"), (doc.get("metadata") or {}).get("name"), doc.get("spec") or {}
        if kind == "Service":
            targets = [d for d in deployments if matches(spec.get("selector") or {}, d["labels"])]
            if not targets:
                problems.append(f"{where} Service {name}: selector {spec.get('selector')} matches no Deployment's pods")
            for port in spec.get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                for d in targets:
                    if target not in set(d["ports"]) | set(d["ports"].values()):
                        problems.append(f"{where} Service {name}: targetPort {target!r} is not a declared port of Deployment {d['name']}")
        if kind == "PodDisruptionBudget":
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            targets = [d for d in deployments if matches(selector, d["labels"])]
            if not targets:
                problems.append(f"{where} PodDisruptionBudget {name}: selector matches no Deployment's pods")
            if ("minAvailable" in spec) == ("maxUnavailable" in spec):
                problems.append(f"{where} PodDisruptionBudget {name}: set exactly one of minAvailable and maxUnavailable")
            for d in targets:
                d["pdb"] = True
                if isinstance(spec.get("minAvailable"), int) and spec["minAvailable"] >= (d["replicas"] or 0):
                    problems.append(f"{where} PodDisruptionBudget {name}: minAvailable {spec['minAvailable']} >= replicas of "
                                    f"{d['name']} ({d['replicas']}) blocks every node drain")
                if spec.get("maxUnavailable") == 0:
                    problems.append(f"{where} PodDisruptionBudget {name}: maxUnavailable 0 blocks every node drain")
    for d in deployments:
        if not d["pdb"]:
            problems.append(f"Deployment {d['name']}: no PodDisruptionBudget selects its pods")
    if not deployments:
        problems.append("no Deployment found")
    return problems


def container(docs, deployment):
    for _, d in docs:
        if d.get("kind") == "Deployment" and d["metadata"]["name"] == deployment:
            return d["spec"]["template"]["spec"]["containers"][0]
    raise KeyError(deployment)


def deployment(docs, name):
    return next(d for _, d in docs if d.get("kind") == "Deployment" and d["metadata"]["name"] == name)


def env(docs, dep, var):
    return next(e for e in container(docs, dep)["env"] if e["name"] == var)


def cronjob(docs, name):
    return next(d for _, d in docs if d.get("kind") == "CronJob" and d["metadata"]["name"] == name)


def job_container(docs, name, index=0):
    return cronjob(docs, name)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][index]


# Each breaks one rule; the validator must reject every one, naming the expected word.
MUTATIONS = [
    ("literal secret", "INGEST_JWT_SECRET", lambda d: env(d, "ingest", "INGEST_JWT_SECRET").update({"value": "x" * 40}) or env(d, "ingest", "INGEST_JWT_SECRET").pop("valueFrom")),
    ("secret from a ConfigMap", "PROJECTOR_DATABASE_URL", lambda d: env(d, "projector", "PROJECTOR_DATABASE_URL").update({"valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}})),
    ("liveness on an undeclared port", "livenessProbe port", lambda d: container(d, "projector")["livenessProbe"]["httpGet"].update({"port": 9999})),
    ("readiness on the wrong path", "readinessProbe must GET /ready", lambda d: container(d, "ingest")["readinessProbe"]["httpGet"].update({"path": "/health"})),
    ("no readiness probe", "readinessProbe is missing", lambda d: container(d, "ingest").pop("readinessProbe")),
    ("writable root", "readOnlyRootFilesystem", lambda d: container(d, "projector")["securityContext"].update({"readOnlyRootFilesystem": False})),
    ("capabilities kept", "capabilities.drop", lambda d: container(d, "reporter-watch")["securityContext"]["capabilities"].update({"drop": []})),
    ("root allowed", "runAsNonRoot", lambda d: deployment(d, "ingest")["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")),
    ("no memory limit", "resources.limits.memory", lambda d: container(d, "ingest")["resources"]["limits"].pop("memory")),
    ("latest image", "pinned tag", lambda d: container(d, "ingest").update({"image": "registry.invalid/x:latest"})),
    ("selector off the template", "matchLabels", lambda d: deployment(d, "projector")["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "other"})),
    ("service to nothing", "matches no Deployment", lambda d: next(x for _, x in d if x["kind"] == "Service" and x["metadata"]["name"] == "ingest")["spec"].update({"selector": {"app": "none"}})),
    ("pdb blocking drains", "blocks every node drain", lambda d: next(x for _, x in d if x["kind"] == "PodDisruptionBudget" and x["metadata"]["name"] == "ingest")["spec"].update({"minAvailable": 3})),
    ("no grace period", "terminationGracePeriodSeconds", lambda d: deployment(d, "projector")["spec"]["template"]["spec"].pop("terminationGracePeriodSeconds")),
    ("mount of no volume", "names no volume", lambda d: container(d, "projector")["volumeMounts"].append({"name": "ghost", "mountPath": "/x"})),
    ("job secret literal", "AUDITOR_DATABASE_URL", lambda d: next(e for e in job_container(d, "audit-verify")["env"] if e["name"] == "AUDITOR_DATABASE_URL").update({"value": "postgresql://a:b@db/trial"})),
    ("jobs overlapping", "concurrencyPolicy", lambda d: cronjob(d, "audit-verify")["spec"].update({"concurrencyPolicy": "Allow"})),
    ("job as root", "runAsNonRoot", lambda d: cronjob(d, "audit-verify")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")),
    ("job reaching into the node", "hostPath", lambda d: cronjob(d, "audit-verify")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"].append({"name": "node", "hostPath": {"path": "/var/lib"}})),
    ("job pusher writable root", "readOnlyRootFilesystem", lambda d: job_container(d, "audit-verify", 1)["securityContext"].update({"readOnlyRootFilesystem": False})),
]


def self_test(directory):
    good = load(directory)
    failures = validate(good)
    if failures:
        print("the shipped manifests do not pass:\n  " + "\n  ".join(failures))
        return 1
    status = 0
    for label, expected, mutate in MUTATIONS:
        docs = copy.deepcopy(good)
        mutate(docs)
        problems = validate(docs)
        if not rejected("MANIFEST", label, expected, problems):
            status = 1
    return status


def main(argv):
    if argv[1:2] == ["--self-test"]:
        return self_test(argv[2] if len(argv) > 2 else ROOT / "infra/kubernetes")
    directory = argv[1] if len(argv) > 1 else ROOT / "infra/kubernetes"
    try:
        documents = load(directory)
    except yaml.YAMLError as error:
        print(f"YAML does not parse: {error}")
        return 1
    problems = validate(documents)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"kubernetes: {len(documents)} documents valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
