#!/usr/bin/env python3
"""Validates configs/argo/ offline, the two ways a template breaks in a cluster:

  1. against Argo's JSON schema (../shared/argo-workflows/schema.json) with check-jsonschema
     (PyPI; installed when missing);
  2. references the schema cannot see: every {{...}} (and every name inside {{=...}} expressions)
     must name a declared input, workflow parameter, task, step or a built-in variable; every
     `template:` and `templateRef:` must exist; every argument passed must be an input the template
     declares, and every input without a default must be passed; `depends` names real tasks;
     `tasks.X.outputs.parameters.P` needs task X's template to declare output P.

Exits non-zero listing every problem as file: template: message."""
import glob
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pyyaml"], check=True)
    import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILTINS = {"workflow.uid", "workflow.name", "workflow.namespace", "workflow.status", "workflow.duration",
            "workflow.creationTimestamp", "workflow.serviceAccountName", "workflow.mainEntrypoint", "item", "pod.name",
            "workflow.failures", "retries", "status", "duration"}
TAG = re.compile(r"\{\{(.*?)\}\}")


def strict_schema(schema, out_dir):
    """A copy of an Argo JSON schema in which every object definition with properties refuses
    others (additionalProperties: false): the published schema sets it nowhere, so a misspelt key
    (`sucessCondition`) would pass. Returns the copy's path."""
    import json
    doc = json.load(open(schema))
    tightened = 0
    for d in doc.get("definitions", {}).values():
        if d.get("type") == "object" and "properties" in d and "additionalProperties" not in d:
            d["additionalProperties"] = False
            tightened += 1
    path = os.path.join(out_dir, "strict-" + os.path.basename(os.path.dirname(schema)) + ".json")
    json.dump(doc, open(path, "w"))
    return path, tightened


def schema_check(files, schema):
    exe = shutil.which("check-jsonschema")
    if exe is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "check-jsonschema"], check=True)
        exe = shutil.which("check-jsonschema") or "check-jsonschema"
    import tempfile
    strict, tightened = strict_schema(schema, tempfile.mkdtemp(prefix="evalengine-schema-"))
    r = subprocess.run([exe, "--schemafile", strict, *files], capture_output=True, text=True)
    shown = " ".join(os.path.relpath(f, ROOT) for f in files) if len(files) <= 3 else os.path.relpath(os.path.dirname(files[0]), ROOT) + "/*.yaml"
    print(f"$ check-jsonschema --schemafile {os.path.relpath(schema)} (strict: additionalProperties false on {tightened} definitions) {shown}\n"
          f"{r.stdout.strip()}{r.stderr.strip()}")
    return r.returncode == 0


def self_test(files, schema, name="evalengine-stages.yaml", key="successCondition", typo="sucessCondition"):
    """The strict check must catch a misspelt key: a copy of a file with one key misspelt (the
    stages template's `successCondition` as `sucessCondition`) has to fail it."""
    import tempfile
    src = next(f for f in files if f.endswith(name))
    text = open(src).read()
    assert key + ":" in text
    d = tempfile.mkdtemp(prefix="evalengine-argo-typo-")
    bad = os.path.join(d, "typo.yaml")
    open(bad, "w").write(text.replace(key + ":", typo + ":", 1))
    import io
    import contextlib
    with contextlib.redirect_stdout(io.StringIO()):
        caught = not schema_check([bad], schema)
    print(f"self-test: a misspelt key ({typo} in {name}) is {'refused' if caught else 'NOT refused'} by the strict schema")
    return caught


def check_events(library_params):
    """configs/argo-events/: the EventSource and Sensor strictly against Argo Events' schema; the
    Workflows the Sensor submits strictly against Argo Workflows' (their template must exist here and
    take the parameters they pass); the artifact repositories against Argo's ArtifactRepository; and
    the names that tie them together (event source and event names, trigger conditions,
    dependency names, artifactRepositoryRef keys)."""
    import json
    import tempfile
    import jsonschema
    events_dir = os.path.join(ROOT, "configs", "argo-events")
    files = sorted(glob.glob(os.path.join(events_dir, "*.yaml")))
    events_schema = os.path.join(ROOT, "..", "shared", "argo-events", "schema.json")
    argo_files = [f for f in files if yaml.safe_load(open(f)).get("apiVersion", "").startswith("argoproj.io")]
    ok = schema_check(argo_files, events_schema)
    ok = self_test(argo_files, events_schema, "sensor.yaml", "dependencyName", "dependencyNmae") and ok
    strict_wf, _ = strict_schema(os.path.join(ROOT, "..", "shared", "argo-workflows", "schema.json"), tempfile.mkdtemp(prefix="evalengine-schema-"))
    wf_schema = json.load(open(strict_wf))
    problems = []
    docs = {os.path.basename(f): yaml.safe_load(open(f)) for f in files}
    sources = {}  # event source name -> event names
    repos = {}    # artifact repository configmap name -> keys
    for name, doc in docs.items():
        if doc.get("kind") == "EventSource":
            spec = doc["spec"]
            sources[doc["metadata"]["name"]] = {e for kind, events in spec.items() if isinstance(events, dict) and kind not in ("service", "template")
                                                 for e in events}
        if doc.get("kind") == "ConfigMap":
            keys = set()
            for key, text in doc.get("data", {}).items():
                keys.add(key)
                ref = {"$ref": "#/definitions/io.argoproj.workflow.v1alpha1.ArtifactRepository", "definitions": wf_schema["definitions"]}
                for e in jsonschema.Draft202012Validator(ref).iter_errors(yaml.safe_load(text)):
                    problems.append(f"{name}: data.{key}: {'.'.join(map(str, e.path))}: {e.message}")
            repos[doc["metadata"]["name"]] = keys
    for name, doc in docs.items():
        if doc.get("kind") != "Sensor":
            continue
        deps = {d["name"]: d for d in doc["spec"]["dependencies"]}
        for d in deps.values():
            if d["eventName"] not in sources.get(d["eventSourceName"], set()):
                problems.append(f"{name}: dependency {d['name']}: no event {d['eventSourceName']}/{d['eventName']} in configs/argo-events/")
        for t in doc["spec"]["triggers"]:
            tpl = t["template"]
            for dep in re.findall(r"[A-Za-z0-9_-]+", tpl.get("conditions", "")):
                if dep not in deps:
                    problems.append(f"{name}: trigger {tpl['name']}: condition names no dependency '{dep}'")
            wf = tpl.get("argoWorkflow")
            if not wf:
                continue
            for prm in wf.get("parameters", []) + t.get("parameters", []):
                if prm["src"].get("dependencyName") not in deps:
                    problems.append(f"{name}: trigger {tpl['name']}: parameter source names no dependency '{prm['src'].get('dependencyName')}'")
            resource = wf["source"]["resource"]
            ref = {"$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow", "definitions": wf_schema["definitions"]}
            for e in jsonschema.Draft202012Validator(ref).iter_errors(resource):
                problems.append(f"{name}: trigger {tpl['name']}: the Workflow it submits: {'.'.join(map(str, e.path))}: {e.message}")
            spec = resource.get("spec", {})
            template = spec.get("workflowTemplateRef", {}).get("name")
            if template not in library_params:
                problems.append(f"{name}: trigger {tpl['name']}: no WorkflowTemplate '{template}' in configs/argo/")
                continue
            declared = library_params[template]
            passed = [p["name"] for p in spec.get("arguments", {}).get("parameters", [])]
            for p in passed:
                if p not in declared:
                    problems.append(f"{name}: trigger {tpl['name']}: passes '{p}', which WorkflowTemplate {template} does not declare")
            for prm in wf.get("parameters", []):
                m = re.fullmatch(r"spec\.arguments\.parameters\.(\d+)\.value", prm["dest"])
                if not m or int(m.group(1)) >= len(passed):
                    problems.append(f"{name}: trigger {tpl['name']}: parameter dest {prm['dest']} is not one of the Workflow's parameters")
            repo_ref = spec.get("artifactRepositoryRef", {})
            if repo_ref and repo_ref.get("key") not in repos.get(repo_ref.get("configMap"), set()):
                problems.append(f"{name}: trigger {tpl['name']}: artifactRepositoryRef {repo_ref} is not in configs/argo-events/")
    for p in problems:
        print("  " + p)
    print(f"argo-events: {len(files)} files, {len(problems)} problem(s)")
    return ok and not problems


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def spec_of(doc):
    return doc["spec"].get("workflowSpec", doc["spec"]) if doc.get("kind") == "CronWorkflow" else doc["spec"]


def main():
    files = sorted(glob.glob(os.path.join(ROOT, "configs/argo/*.yaml")))
    schema = os.path.join(ROOT, "..", "shared", "argo-workflows", "schema.json")
    ok = schema_check(files, schema)
    ok = self_test(files, schema) and ok

    docs = []
    for f in files:
        for doc in yaml.safe_load_all(open(f)):
            if doc:
                docs.append((os.path.relpath(f, ROOT), doc))
    library = {}  # (WorkflowTemplate name, template name) -> template
    for f, doc in docs:
        if doc.get("kind") in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
            for t in spec_of(doc).get("templates", []):
                library[(doc["metadata"]["name"], t["name"])] = t

    problems = []
    for f, doc in docs:
        spec = spec_of(doc)
        local = {t["name"]: t for t in spec.get("templates", [])}
        wf_params = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
        if "entrypoint" in spec and spec["entrypoint"] not in local:
            problems.append(f"{f}: entrypoint '{spec['entrypoint']}' is not a template")

        def resolve(item):
            if "template" in item:
                return local.get(item["template"])
            if "templateRef" in item:
                ref = item["templateRef"]
                return library.get((ref.get("name"), ref.get("template")))
            return None

        def check_call(where, item):
            target = resolve(item)
            if target is None:
                what = item.get("template") or item.get("templateRef")
                problems.append(f"{where}: '{item['name']}' calls unknown template {what}")
                return
            declared = {p["name"]: p for p in target.get("inputs", {}).get("parameters", [])}
            passed = {p["name"] for p in item.get("arguments", {}).get("parameters", [])}
            for name in passed - set(declared):
                problems.append(f"{where}: '{item['name']}' passes parameter '{name}', which template '{target['name']}' does not declare")
            for name, p in declared.items():
                if "value" not in p and "default" not in p and "valueFrom" not in p and name not in passed:
                    problems.append(f"{where}: '{item['name']}' does not pass required parameter '{name}' of '{target['name']}'")
            arts = {a["name"] for a in target.get("inputs", {}).get("artifacts", [])}
            for a in item.get("arguments", {}).get("artifacts", []):
                if a["name"] not in arts:
                    problems.append(f"{where}: '{item['name']}' passes artifact '{a['name']}', which '{target['name']}' does not declare")

        # Workflow-level strings (metrics, arguments) may use workflow variables only.
        for s in strings({k: v for k, v in spec.items() if k != "templates"}):
            for tag in TAG.findall(s):
                tag = tag.strip()
                if tag.startswith("workflow.parameters.") and tag.split(".", 2)[2] not in wf_params:
                    problems.append(f"{f}: {{{{{tag}}}}} names no workflow parameter")

        for t in spec.get("templates", []):
            where = f"{f}: template '{t['name']}'"
            inputs = {p["name"] for p in t.get("inputs", {}).get("parameters", [])}
            input_arts = {a["name"] for a in t.get("inputs", {}).get("artifacts", [])}
            tasks = {x["name"]: x for x in t.get("dag", {}).get("tasks", [])}
            steps = {x["name"]: x for group in t.get("steps", []) for x in group}
            for x in list(tasks.values()) + list(steps.values()):
                check_call(where, x)
                for dep in x.get("dependencies", []):
                    if dep not in tasks:
                        problems.append(f"{where}: '{x['name']}' depends on unknown task '{dep}'")
                if "depends" in x:
                    for name in re.findall(r"[A-Za-z0-9_-]+(?=\.|\s|$|\))", x["depends"].replace("&&", " ").replace("||", " ").replace("!", " ")):
                        base = name
                        if base in ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"):
                            continue
                        if base not in tasks:
                            problems.append(f"{where}: '{x['name']}' depends on unknown task '{base}'")

            def check_name(expr, tag):
                if expr.startswith("inputs.parameters."):
                    if expr.split(".")[2] not in inputs:
                        problems.append(f"{where}: {{{{{tag}}}}} names no input parameter of this template")
                elif expr.startswith("inputs.artifacts."):
                    if expr.split(".")[2] not in input_arts:
                        problems.append(f"{where}: {{{{{tag}}}}} names no input artifact of this template")
                elif expr.startswith("workflow.parameters."):
                    if expr.split(".")[2] not in wf_params:
                        problems.append(f"{where}: {{{{{tag}}}}} names no workflow parameter"
                                        + (" (a library template must take inputs instead)" if not wf_params else ""))
                elif expr.startswith("tasks."):
                    parts = expr.split(".")
                    if parts[1] not in tasks:
                        problems.append(f"{where}: {{{{{tag}}}}} names no task of this DAG")
                    elif len(parts) >= 5 and parts[2:4] == ["outputs", "parameters"]:
                        target = resolve(tasks[parts[1]])
                        outs = {p["name"] for p in (target or {}).get("outputs", {}).get("parameters", [])}
                        if parts[4] not in outs:
                            problems.append(f"{where}: {{{{{tag}}}}}: task '{parts[1]}' has no output parameter '{parts[4]}'")
                elif expr.startswith("steps."):
                    if expr.split(".")[1] not in steps:
                        problems.append(f"{where}: {{{{{tag}}}}} names no step of this template")
                elif expr not in BUILTINS and not expr.startswith(("workflow.labels.", "workflow.annotations.", "outputs.")):
                    problems.append(f"{where}: {{{{{tag}}}}} is not a known variable")

            for s in strings({k: v for k, v in t.items() if k != "name"}):
                for tag in TAG.findall(s):
                    tag = tag.strip()
                    if tag.startswith("="):
                        for expr in re.findall(r"(?:inputs\.parameters|inputs\.artifacts|workflow\.parameters|tasks|steps)\.[A-Za-z0-9_.-]+", tag):
                            check_name(expr.rstrip("."), tag)
                    else:
                        check_name(tag, tag)

    library_params = {doc["metadata"]["name"]: {p["name"] for p in spec_of(doc).get("arguments", {}).get("parameters", [])}
                      for _, doc in docs if doc.get("kind") == "WorkflowTemplate"}
    ok = check_events(library_params) and ok
    for p in problems:
        print("  " + p)
    print(f"references: {len(docs)} documents, {sum(len(spec_of(d).get('templates', [])) for _, d in docs)} templates, "
          f"{len(problems)} problem(s)")
    if not ok or problems:
        sys.exit(1)
    print("check-argo: ok")


if __name__ == "__main__":
    main()
