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
            "workflow.failures", "retries"}
TAG = re.compile(r"\{\{(.*?)\}\}")


def schema_check(files, schema):
    exe = shutil.which("check-jsonschema")
    if exe is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "check-jsonschema"], check=True)
        exe = shutil.which("check-jsonschema") or "check-jsonschema"
    r = subprocess.run([exe, "--schemafile", schema, *files], capture_output=True, text=True)
    print(f"$ check-jsonschema --schemafile {os.path.relpath(schema)} configs/argo/*.yaml\n{r.stdout.strip()}{r.stderr.strip()}")
    return r.returncode == 0


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

    for p in problems:
        print("  " + p)
    print(f"references: {len(docs)} documents, {sum(len(spec_of(d).get('templates', [])) for _, d in docs)} templates, "
          f"{len(problems)} problem(s)")
    if not ok or problems:
        sys.exit(1)
    print("check-argo: ok")


if __name__ == "__main__":
    main()
