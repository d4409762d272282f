#!/usr/bin/env python3
"""Writes rules.test.yaml: the promtool unit tests of rules.yaml.

The tests are scenarios of input series whose expected rule values are worked out here by plain
arithmetic (not by PromQL), so a rule whose expression is wrong disagrees with them. Alert levels sit
between half and twice each threshold (healthy just below the slow-burn threshold, middle between
the slow- and fast-burn thresholds, bad just above the fast one), so moving any threshold by a factor
of two turns some test red: scripts/check-observability.py checks that it does.

  python3 configs/observability/gen_rules_test.py            # rewrite rules.test.yaml
  python3 configs/observability/gen_rules_test.py --check    # exit 1 when it is stale
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MINUTES = 1450          # a little over a day of samples: the 1d windows are full
STEP = 5                # minutes between samples, and between rule evaluations (1m would be 5x slower)
EVAL = "1445m"          # when the tests look
STEP_AT = 1385          # "last hour" scenarios change here: 60 minutes before EVAL


def num(x):
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return s if s else "0"


def counter(per_minute):
    return f"0+{num(per_minute * STEP)}x{MINUTES // STEP}"


def stepped(before, after, at=STEP_AT):
    """A counter rising `before` a minute until minute `at`, then `after` a minute."""
    n = at // STEP
    start = (before * n + after) * STEP
    return f"0+{num(before * STEP)}x{n} {num(start)}+{num(after * STEP)}x{MINUTES // STEP - n - 1}"


def series(name, labels, values):
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


R = "argo_workflows_prompt_pipeline_result_total"
VEL = "argo_workflows_pipeline_promotion_velocity_seconds"
DUR = "argo_workflows_prompt_pipeline_duration_seconds"
FP = "argo_workflows_pipeline_gate_false_positive_total"
HTTP = "evalengine_http_request_duration_seconds"
EP = "evalengine_endpoint_request_duration_seconds_count"


def result(stage, res, per_minute, artifact="prompt", values=None):
    return series(R, {"stage": stage, "result": res, "artifact_type": artifact}, values or counter(per_minute))


def histogram(name, buckets, labels=None):
    """buckets: [(le, per-minute cumulative count)], the last being +Inf."""
    labels = labels or {"artifact_type": "prompt"}
    out = [series(name + "_bucket", {**labels, "le": le}, counter(n)) for le, n in buckets]
    total = buckets[-1][1]
    out.append(series(name + "_count", labels, counter(total)))
    out.append(series(name + "_sum", labels, counter(total * 600)))
    return out


def velocity(slow_share):
    """Promotions per minute: 10, of which slow_share took over 30 minutes."""
    fast = 10 * (1 - slow_share)
    return histogram(VEL, [("300", fast * 0.1), ("900", fast * 0.5), ("1800", fast), ("3600", 10), ("+Inf", 10)])


def http_series(error_share, slow_share, step=False):
    """Requests a minute: 100 to /v1/eval (error_share of them 503s) and 100 quick /v1/audit reads
    (slow_share of them over 250 ms). step: healthy until the last hour."""
    def c(healthy, bad):
        return stepped(healthy, bad) if step else counter(bad)
    out = [
        series(HTTP + "_count", {"route": "/v1/eval", "method": "POST", "status": "200"}, c(100, 100 * (1 - error_share))),
        series(HTTP + "_count", {"route": "/v1/eval", "method": "POST", "status": "503"}, c(0, 100 * error_share)),
        series(HTTP + "_count", {"route": "/v1/audit", "method": "GET", "status": "200"}, c(100, 100)),
        series(HTTP + "_bucket", {"route": "/v1/audit", "method": "GET", "status": "200", "le": "0.25"}, c(100, 100 * (1 - slow_share))),
        series(HTTP + "_bucket", {"route": "/v1/audit", "method": "GET", "status": "200", "le": "+Inf"}, c(100, 100)),
    ]
    return out


def expr_test(expr, value, labels="{}"):
    return {"expr": f"round({expr}, 0.0001)", "eval_time": EVAL, "exp_samples": [{"labels": labels, "value": round(value, 4)}]}


SUMMARIES = {
    "PromotionSLOFastBurn": "Prompt changes are reaching production slower than 30 minutes: {v} of the last 6h's promotions",
    "PromotionSLOSlowBurn": "{v} of the last day's prompt promotions took over 30 minutes (SLO: 5%)",
    "PipelineInfraSLOFastBurn": "{v} of pipeline runs in the last 6h ended in an infrastructure failure",
    "PipelineInfraSLOSlowBurn": "{v} of the last day's pipeline runs ended in an infrastructure failure (SLO: 1%)",
    "EvalengineErrorBudgetFastBurn": "evalengine answers {v} of requests with a 5xx",
    "EvalengineLatencyBudgetFastBurn": "{v} of evalengine's quick requests take over 250 ms",
    "EndpointRateLimited": "{v} of calls to endpoint {endpoint} are 429s: lower its requests_per_minute",
    "GateBlockRateHigh": "The {gate} gate blocked {v} of the last day's changes",
    "RollbackRateHigh": "{v} of the last day's {artifact_type} promotions were rolled back",
}
RUNBOOKS = {
    "PromotionSLOFastBurn": "docs/OBSERVABILITY.md#promotion-slo", "PromotionSLOSlowBurn": "docs/OBSERVABILITY.md#promotion-slo",
    "PipelineInfraSLOFastBurn": "docs/OBSERVABILITY.md#infra-slo", "PipelineInfraSLOSlowBurn": "docs/OBSERVABILITY.md#infra-slo",
    "EvalengineErrorBudgetFastBurn": "docs/OBSERVABILITY.md#api-slo", "EvalengineLatencyBudgetFastBurn": "docs/OBSERVABILITY.md#latency-slo",
    "EndpointRateLimited": "docs/RATE-LIMITS.md", "GateBlockRateHigh": "docs/OBSERVABILITY.md#gate-block-rate",
    "RollbackRateHigh": "docs/OBSERVABILITY.md#rollback-rate",
}


def percent(v):
    """Go's %.4g of v*100, as humanizePercentage writes it."""
    return f"{v * 100:.4g}%"


def alert_test(name, firing, labels=None, eval_time=EVAL, value=None):
    """value: the alert's $value (the first operand of its expression), for the summary."""
    labels = labels or {}
    exp = []
    if firing:
        summary = SUMMARIES[name].format(v=percent(value), **labels)
        exp = [{"exp_labels": labels, "exp_annotations": {"summary": summary, "runbook": RUNBOOKS[name]}}]
    return {"eval_time": eval_time, "alertname": name, "exp_alerts": exp}


ALERTS = ["PromotionSLOFastBurn", "PromotionSLOSlowBurn", "PipelineInfraSLOFastBurn", "PipelineInfraSLOSlowBurn",
          "EvalengineErrorBudgetFastBurn", "EvalengineLatencyBudgetFastBurn", "EndpointRateLimited", "GateBlockRateHigh", "RollbackRateHigh"]


def pipeline_results(block_share=0.3, infra_share=0.02, rollback_share=0.06, fp_share=0.25):
    """Per minute: 10 eval gates (block_share blocked), 10 pipeline runs (infra_share Error, 0.1 Failed),
    promotions and reverts."""
    return [
        result("eval", "Succeeded", 10 * (1 - block_share)),
        result("eval", "Failed", 10 * block_share),
        result("eval", "Error", 0.5),
        series(FP, {"gate": "eval"}, counter(10 * block_share * fp_share)),
        result("pipeline", "Succeeded", 10 * (1 - infra_share) - 1),
        result("pipeline", "Failed", 1),
        result("pipeline", "Error", 10 * infra_share),
        result("promote", "Succeeded", 5),
        result("revert", "Succeeded", 5 * rollback_share),
    ]


def healthy_group():
    """Every recording rule's value on a healthy day; no alert fires."""
    inputs = pipeline_results() + velocity(0.1) + histogram(DUR, [("600", 5), ("1200", 8), ("1800", 10), ("+Inf", 10)])
    inputs += http_series(0.008, 0.04)
    inputs += [series(EP, {"endpoint": "sim", "outcome": "ok"}, counter(97)), series(EP, {"endpoint": "sim", "outcome": "rate_limited"}, counter(3))]
    tests = [
        expr_test("pipeline_gate_block_rate", 0.3, '{gate="eval"}'),
        expr_test("pipeline_gate_false_positive_rate", 0.25, '{gate="eval"}'),
        expr_test("pipeline_rollback_rate", 0.06, '{artifact_type="prompt"}'),
        expr_test("pipeline:success:ratio_rate1d", (10 * 0.98 - 1) / 10, '{artifact_type="prompt"}'),
        # p95 of the promotions: rank 9.5 of 10 falls in (1800, 3600], between counts 9 and 10.
        expr_test("pipeline:promotion_velocity_seconds:p95_1d", 1800 + 1800 * 0.5, '{artifact_type="prompt"}'),
        # p95 of the durations: rank 9.5 in (1200, 1800], between counts 8 and 10.
        expr_test("pipeline:duration_seconds:p95_1d", 1200 + 600 * 1.5 / 2, '{artifact_type="prompt"}'),
        expr_test("evalengine:endpoint_rate_limited:rate5m", 3 / 60, '{endpoint="sim"}'),
        expr_test("evalengine:endpoint_rate_limited:ratio_rate5m", 0.03, '{endpoint="sim"}'),
    ]
    for w in ["30m", "2h", "6h", "1d"]:
        tests.append(expr_test(f"slo:promotion_slow:ratio_rate{w}", 0.1))
        tests.append(expr_test(f"slo:pipeline_infra_failure:ratio_rate{w}", 0.02))
    for w in ["5m", "30m", "1h", "6h"]:
        # 0.8 errors a minute of 200 requests (the quick reads count as requests too).
        tests.append(expr_test(f"slo:http_errors:ratio_rate{w}", 0.8 / 200))
        tests.append(expr_test(f"slo:http_slow:ratio_rate{w}", 0.04))
    alerts = [alert_test(a, False) for a in ALERTS]
    return {"name": "healthy day: every rule's value, no alert", "interval": f"{STEP}m", "input_series": inputs,
            "promql_expr_test": tests, "alert_rule_test": alerts}


def group(name, inputs, alerts, tests=None):
    g = {"name": name, "interval": f"{STEP}m", "input_series": inputs, "alert_rule_test": alerts}
    if tests:
        g["promql_expr_test"] = tests
    return g


def groups():
    out = [healthy_group()]
    # Promotion SLO: 20% slow burns the budget at 4x: the ticket, not the page; 50% pages too.
    out.append(group("promotions 20% slow: ticket only", velocity(0.2),
                     [alert_test("PromotionSLOFastBurn", False),
                      alert_test("PromotionSLOSlowBurn", True, {"severity": "ticket", "slo": "promotion"}, value=0.2)]))
    out.append(group("promotions 50% slow: page and ticket", velocity(0.5),
                     [alert_test("PromotionSLOFastBurn", True, {"severity": "page", "slo": "promotion"}, value=0.5),
                      alert_test("PromotionSLOSlowBurn", True, {"severity": "ticket", "slo": "promotion"}, value=0.5)]))
    # A burst in the last half hour alone does not page: the long window says it does not matter yet.
    burst = [series(VEL + "_bucket", {"artifact_type": "prompt", "le": "1800"}, stepped(10, 5, at=1415)),
             series(VEL + "_bucket", {"artifact_type": "prompt", "le": "+Inf"}, counter(10)),
             series(VEL + "_count", {"artifact_type": "prompt"}, counter(10))]
    out.append(group("slow promotions for 30 minutes only: no page", burst,
                     [alert_test("PromotionSLOFastBurn", False), alert_test("PromotionSLOSlowBurn", False)],
                     [expr_test("slo:promotion_slow:ratio_rate30m", 0.5), expr_test("slo:promotion_slow:ratio_rate6h", 0.5 * 30 / 360)]))
    # Infra SLO.
    out.append(group("4% infra failures: ticket only", pipeline_results(infra_share=0.04),
                     [alert_test("PipelineInfraSLOFastBurn", False),
                      alert_test("PipelineInfraSLOSlowBurn", True, {"severity": "ticket", "slo": "infra"}, value=0.04)]))
    out.append(group("10% infra failures: page and ticket", pipeline_results(infra_share=0.1),
                     [alert_test("PipelineInfraSLOFastBurn", True, {"severity": "page", "slo": "infra"}, value=0.1),
                      alert_test("PipelineInfraSLOSlowBurn", True, {"severity": "ticket", "slo": "infra"}, value=0.1)]))
    # API SLO: each of the two windows pairs, on its own. Shares are of the /v1/eval half of the
    # traffic, so the error ratio is half the share.
    out.append(group("errors at 0.8% of all requests all day: pages through 6h/30m", http_series(0.016, 0.0),
                     [alert_test("EvalengineErrorBudgetFastBurn", True, {"severity": "page", "slo": "api"}, value=0.008)]))
    out.append(group("errors at 1% in the last hour: below 14.4x, no page", http_series(0.02, 0.0, step=True),
                     [alert_test("EvalengineErrorBudgetFastBurn", False)],
                     [expr_test("slo:http_errors:ratio_rate1h", 0.01), expr_test("slo:http_errors:ratio_rate6h", 0.01 / 6)]))
    out.append(group("errors at 2% in the last hour: pages through 1h/5m", http_series(0.04, 0.0, step=True),
                     [alert_test("EvalengineErrorBudgetFastBurn", True, {"severity": "page", "slo": "api"}, value=0.02)]))
    # Latency SLO, likewise.
    out.append(group("8% slow all day: pages through 6h/30m", http_series(0.0, 0.08),
                     [alert_test("EvalengineLatencyBudgetFastBurn", True, {"severity": "page", "slo": "latency"}, value=0.08)]))
    out.append(group("10% slow in the last hour: no page", http_series(0.0, 0.1, step=True),
                     [alert_test("EvalengineLatencyBudgetFastBurn", False)]))
    out.append(group("20% slow in the last hour: pages through 1h/5m", http_series(0.0, 0.2, step=True),
                     [alert_test("EvalengineLatencyBudgetFastBurn", True, {"severity": "page", "slo": "latency"}, value=0.2)]))
    # 429s: 8% for over ten minutes fires; the first minutes (inside `for`) do not.
    r429 = [series(EP, {"endpoint": "sim", "outcome": "ok"}, stepped(100, 92, at=1425)),
            series(EP, {"endpoint": "sim", "outcome": "rate_limited"}, stepped(0, 8, at=1425))]
    out.append(group("8% 429s for 20 minutes", r429,
                     [alert_test("EndpointRateLimited", True, {"severity": "ticket", "endpoint": "sim"}, value=0.08),
                      alert_test("EndpointRateLimited", False, eval_time="1433m")]))
    # Gates and rollbacks.
    out.append(group("60% of changes blocked, 15% of promotions rolled back", pipeline_results(block_share=0.6, rollback_share=0.15),
                     [alert_test("GateBlockRateHigh", True, {"severity": "ticket", "gate": "eval"}, value=0.6),
                      alert_test("RollbackRateHigh", True, {"severity": "ticket", "artifact_type": "prompt"}, value=0.15)]))
    return out


def dump(value, indent=0):
    """A small YAML writer (flow style for leaves) so the file needs no PyYAML to be regenerated."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.extend(dump(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                sub = dump(item, indent + 1)
                lines.append(f"{pad}- {sub[0].strip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {scalar(item)}")
    return lines


def scalar(v):
    if isinstance(v, (list, dict)):
        return "[]" if isinstance(v, list) else "{}"
    if isinstance(v, (int, float)):
        return num(v)
    return "'" + str(v).replace("'", "''") + "'"


def render():
    doc = {"rule_files": ["rules.yaml"], "evaluation_interval": f"{STEP}m", "tests": groups()}
    return "# Generated by gen_rules_test.py: edit that, then run it.\n" + "\n".join(dump(doc)) + "\n"


def main():
    path = os.path.join(HERE, "rules.test.yaml")
    text = render()
    if "--check" in sys.argv:
        current = open(path).read() if os.path.exists(path) else ""
        if current != text:
            print(f"{path} is stale: run python3 {os.path.relpath(__file__)}")
            return 1
        return 0
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
