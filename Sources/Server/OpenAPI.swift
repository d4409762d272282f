import EvalCore

/// The service's OpenAPI 3.0 document, served at `/openapi.json`; docs/API.md is checked
/// against it by a test.
public enum OpenAPI {
    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    static func json(_ schema: JSONValue, _ description: String) -> JSONValue {
        ["description": .string(description), "content": ["application/json": ["schema": schema]]]
    }

    static let waitParameter: JSONValue = [
        "name": "wait", "in": "query", "required": false,
        "description": "Block up to this many seconds for the job to end (capped by the service's max_wait_seconds).",
        "schema": ["type": "number", "minimum": 0],
    ]
    static let idParameter: JSONValue = ["name": "id", "in": "path", "required": true, "schema": ["type": "string"]]
    static let errorResponses: [String: JSONValue] = [
        "400": json(ref("Error"), "Malformed JSON or a schema violation; error.field names the field."),
        "401": json(ref("Error"), "Auth is on and no valid bearer token was given."),
        "408": json(ref("Error"), "The body did not arrive within limits.body_timeout_seconds."),
        "413": json(ref("Error"), "The body exceeds max_body_bytes."),
        "422": json(ref("Error"), "Unknown endpoint, bad threshold, unreadable ref or bad input file, or an Idempotency-Key reused with another body."),
        "429": json(ref("Error"), "Too many queued jobs; retry after Retry-After."),
        "503": json(ref("Error"), "Draining for shutdown; retry after Retry-After."),
    ]

    static func submit(_ summary: String, _ body: String) -> JSONValue {
        var responses = errorResponses
        responses["200"] = json(ref("Envelope"), "The job is terminal (new, attached or replayed). A failed gate is a 200 with verdict fail.")
        responses["202"] = json(ref("Envelope"), "The job runs; poll the Location header.")
        return [
            "post": [
                "summary": .string(summary),
                "parameters": [
                    waitParameter,
                    ["name": "Idempotency-Key", "in": "header", "required": false, "description": "Same key + same body attaches to the job; default: the body's digest.",
                     "schema": ["type": "string", "minLength": 1, "maxLength": 255]],
                ],
                "requestBody": ["required": true, "content": ["application/json": ["schema": ref(body)]]],
                "responses": .object(responses),
            ],
        ]
    }

    static let fileRef: JSONValue = [
        "type": "object", "required": ["ref"], "additionalProperties": false,
        "properties": ["ref": ["type": "string", "description": "Path relative to the service's data directory."]],
    ]
    static let common: [String: JSONValue] = [
        "purpose": ["type": "string", "enum": ["gate", "benchmark", "capacity"], "default": "gate"],
        "client": ["type": "object", "description": "Caller information; not part of the digest."],
        "thresholds": ["type": "object", "description": "The stage's gate fields (see README)."],
        "metadata": [
            "type": "object", "additionalProperties": false, "description": "What the job gates, for the audit trail; not part of the digest.",
            "properties": ["artifact": ["type": "string", "maxLength": 256], "artifact_type": ["type": "string", "maxLength": 256], "revision": ["type": "string", "maxLength": 256]],
        ],
    ]
    static let options: JSONValue = [
        "type": "object", "additionalProperties": false,
        "properties": [
            "concurrency": ["type": "integer", "minimum": 1], "seed": ["type": "integer", "minimum": 0],
            "repeat": ["type": "integer", "minimum": 1, "maximum": .number(Double(GateConfig.maxRepeats)), "description": "eval: samples per case (default: the thresholds' repeat, else 1)."],
        ],
    ]

    public static let document: JSONValue = {
        var evalProps = common
        evalProps["golden_set"] = ref("FileRef")
        evalProps["prompt"] = ref("FileRef")
        evalProps["endpoint"] = ["type": "string", "description": "An endpoint name from the service config."]
        evalProps["judge_endpoint"] = ["type": "string", "description": "The endpoint that grades model-graded assertions without a provider: of their own."]
        evalProps["options"] = ref("Options")
        var shadowProps = common
        let side: JSONValue = ["type": "object", "required": ["endpoint"], "properties": ["endpoint": ["type": "string"], "prompt": ref("FileRef")]]
        shadowProps["cases"] = ref("FileRef")
        shadowProps["mode"] = ["type": "string", "enum": ["auto", "golden", "traffic"]]
        shadowProps["baseline"] = side
        shadowProps["candidate"] = side
        shadowProps["embedding_endpoint"] = ["type": "string"]
        shadowProps["sampling"] = ["type": "object", "properties": ["rate": ["type": "number"], "max_cases": ["type": "integer"], "stratify_by_tag": ["type": "boolean"]]]
        shadowProps["options"] = ref("Options")
        var indexProps = common
        for k in ["corpus", "queries", "qrels", "baseline_config", "candidate_config"] { indexProps[k] = ref("FileRef") }
        var jobGet = errorResponses.filter { $0.key == "401" }
        jobGet["200"] = json(ref("Envelope"), "The job envelope, in any state.")
        jobGet["404"] = json(ref("Error"), "Unknown job.")
        var report = jobGet
        report["200"] = ["description": "The full per-case report of the stage.", "content": ["application/json": ["schema": ["type": "object"]]]]
        report["409"] = json(ref("Error"), "The job has not completed.")
        var cancel = jobGet
        cancel["200"] = json(ref("Envelope"), "The job after the cancel request.")
        let simple: (String, String, String) -> JSONValue = { summary, type, description in
            ["get": ["summary": .string(summary), "responses": ["200": ["description": .string(description), "content": [.init(stringLiteral: type): ["schema": ["type": "string"]]]]]]]
        }
        return [
            "openapi": "3.0.3",
            "info": ["title": "evalengine", "version": "1.0.0", "description": "Evaluation engine for GenAI delivery pipelines: eval, shadow-compare and index-test as idempotent jobs for Argo Workflows."],
            "paths": [
                "/v1/eval": submit("Run a golden set against one endpoint and gate it", "EvalRequest"),
                "/v1/shadow-compare": submit("Compare a candidate endpoint with a baseline on the same cases", "ShadowCompareRequest"),
                "/v1/index-test": submit("Compare two RAG configs on retrieval metrics", "IndexTestRequest"),
                "/v1/jobs/{id}": ["get": ["summary": "The job envelope; long-polls with wait", "parameters": [idParameter, waitParameter], "responses": .object(jobGet)]],
                "/v1/jobs/{id}/report": ["get": ["summary": "The full report of a completed job", "parameters": [idParameter], "responses": .object(report)]],
                "/v1/jobs/{id}/cancel": ["post": ["summary": "Cancel a job (waits up to wait seconds, default 10, for it to stop)", "parameters": [idParameter, waitParameter], "responses": .object(cancel)]],
                "/v1/validate": ["post": [
                    "summary": "Check configs against the files and the service's endpoints: model listed, context window, pricing age, embedding dimension",
                    "requestBody": ["required": true, "content": ["application/json": ["schema": ref("ValidateRequest")]]],
                    "responses": .object(errorResponses.filter { ["400", "401", "413", "422"].contains($0.key) }.merging([
                        "200": json(ref("ValidateAnswer"), "Checked: valid true or false, with every finding (a failing config is a 200)."),
                    ]) { a, _ in a }),
                ]],
                "/v1/test-suites": ["get": ["summary": "The configured test suites", "responses": ["200": json(["type": "object"], "Suites with their requests.")]]],
                "/v1/test-suites/{name}/runs": [
                    "post": [
                        "summary": "Run a test suite (every request, times repeats, as jobs); with an Idempotency-Key seen before, that run",
                        "parameters": [
                            ["name": "name", "in": "path", "required": true, "schema": ["type": "string"]], waitParameter,
                            ["name": "Idempotency-Key", "in": "header", "required": false, "schema": ["type": "string", "minLength": 1, "maxLength": 255]],
                        ],
                        "responses": [
                            "200": json(ref("SuiteRun"), "The run has ended."), "202": json(ref("SuiteRun"), "The run goes on; poll the Location header."),
                            "404": json(ref("Error"), "Unknown suite."), "422": json(ref("Error"), "A request of the suite cannot run (invalid_suite_request)."),
                            "429": json(ref("Error"), "Too many queued jobs."),
                        ],
                    ],
                    "get": [
                        "summary": "The suite's runs, newest first, and the cases whose outcome changed between runs with identical inputs",
                        "parameters": [["name": "name", "in": "path", "required": true, "schema": ["type": "string"]],
                                       ["name": "limit", "in": "query", "required": false, "schema": ["type": "integer", "minimum": 1, "maximum": 500]]],
                        "responses": ["200": json(["type": "object"], "runs and flaky_across_runs."), "404": json(ref("Error"), "Unknown suite.")],
                    ],
                ],
                "/v1/test-suites/{name}/runs/{id}": ["get": [
                    "summary": "One run; long-polls with wait",
                    "parameters": [["name": "name", "in": "path", "required": true, "schema": ["type": "string"]], idParameter, waitParameter],
                    "responses": ["200": json(ref("SuiteRun"), "The run, ended or not."), "202": json(ref("SuiteRun"), "Still running after wait."),
                                  "404": json(ref("Error"), "Unknown run.")],
                ]],
                "/v1/audit": ["get": [
                    "summary": "Audit lines (who asked for which job, for which artifact and revision, inputs' digests, verdict, report digest, times), oldest first",
                    "parameters": [
                        ["name": "artifact", "in": "query", "required": false, "schema": ["type": "string"]],
                        ["name": "since", "in": "query", "required": false, "description": "RFC 3339 time, seconds since 1970, or a duration ago (24h).", "schema": ["type": "string"]],
                        ["name": "after", "in": "query", "required": false, "description": "Cursor: next_after of the previous page.", "schema": ["type": "integer", "minimum": 0]],
                        ["name": "limit", "in": "query", "required": false, "schema": ["type": "integer", "minimum": 1, "maximum": .number(Double(AuditQuery.maxLimit))]],
                    ],
                    "responses": .object(errorResponses.filter { $0.key == "400" || $0.key == "401" }.merging(["200": json(ref("AuditPage"), "A page of audit lines.")]) { a, _ in a }),
                ]],
                "/healthz": ["get": ["summary": "Liveness", "responses": ["200": json(["type": "object"], "Alive.")]]],
                "/readyz": ["get": ["summary": "Readiness (503 while draining)", "responses": ["200": json(["type": "object"], "Ready."), "503": json(["type": "object"], "Draining.")]]],
                "/metrics": simple("Prometheus metrics", "text/plain", "Prometheus text exposition format 0.0.4."),
                "/openapi.json": ["get": ["summary": "This document", "responses": ["200": json(["type": "object"], "OpenAPI 3.0 document.")]]],
            ],
            "components": [
                "schemas": [
                    "FileRef": fileRef,
                    "Options": options,
                    "EvalRequest": ["type": "object", "required": ["golden_set", "prompt", "endpoint"], "additionalProperties": false, "properties": .object(evalProps)],
                    "ShadowCompareRequest": ["type": "object", "required": ["cases", "baseline", "candidate"], "additionalProperties": false, "properties": .object(shadowProps)],
                    "IndexTestRequest": ["type": "object", "required": ["corpus", "queries", "qrels", "baseline_config", "candidate_config"], "additionalProperties": false,
                                         "properties": .object(indexProps)],
                    "Envelope": [
                        "type": "object",
                        "required": ["api_version", "kind", "job_id", "state", "terminal", "verdict", "reasons", "checks", "request_digest", "attempt", "reused", "links"],
                        "properties": [
                            "api_version": ["type": "string"], "kind": ["type": "string", "enum": ["eval", "shadow-compare", "index-test"]],
                            "job_id": ["type": "string"], "state": ["type": "string", "enum": ["queued", "running", "completed", "errored", "cancelled"]],
                            "terminal": ["type": "boolean"], "verdict": ["type": "string", "nullable": true, "enum": ["pass", "fail", "inconclusive"]],
                            "reasons": ["type": "array", "items": ["type": "string"]], "notes": ["type": "array", "items": ["type": "string"]], "summary": ["type": "object", "nullable": true],
                            "checks": ["type": "array", "items": ["type": "object"]], "purpose": ["type": "string"],
                            "request_digest": ["type": "string"], "idempotency_key": ["type": "string"], "attempt": ["type": "integer"], "reused": ["type": "boolean"],
                            "error": ["type": "object", "nullable": true, "properties": ["code": ["type": "string"], "message": ["type": "string"], "retryable": ["type": "boolean"]]],
                            "links": ["type": "object", "properties": ["self": ["type": "string"], "report": ["type": "string"]]],
                            "timing": ["type": "object"],
                        ],
                    ],
                    "ValidateRequest": [
                        "type": "object", "additionalProperties": false,
                        "properties": [
                            "golden_set": ref("FileRef"), "prompt": ref("FileRef"),
                            "endpoint": ["type": "string", "description": "The endpoint the prompt runs on (its context window is checked)."],
                            "endpoints": ["type": "array", "items": ["type": "string"], "maxItems": 64],
                            "all_endpoints": ["type": "boolean", "description": "Every endpoint of the service (a model-config change)."],
                            "judge_endpoint": ["type": "string"], "rag_configs": ["type": "array", "items": ref("FileRef"), "maxItems": 16],
                            "max_pricing_age_days": ["type": "integer", "minimum": 0, "maximum": 100000, "default": 90],
                            "stale_pricing": ["type": "string", "enum": ["fail", "warn"], "default": "fail"],
                            "metadata": common["metadata"]!, "client": common["client"]!,
                        ],
                    ],
                    "ValidateAnswer": [
                        "type": "object", "required": ["valid", "verdict", "findings"],
                        "properties": [
                            "api_version": ["type": "string"], "valid": ["type": "boolean"], "verdict": ["type": "string", "enum": ["pass", "fail"]],
                            "errors": ["type": "integer"], "warnings": ["type": "integer"],
                            "findings": ["type": "array", "items": ["type": "object", "properties": [
                                "level": ["type": "string", "enum": ["error", "warning", "ok"]], "kind": ["type": "string", "enum": ["input", "endpoint"]],
                                "message": ["type": "string"],
                            ]]],
                        ],
                    ],
                    "SuiteRun": [
                        "type": "object", "required": ["suite", "run_id", "state", "terminal", "items"],
                        "properties": [
                            "api_version": ["type": "string"], "suite": ["type": "string"], "run_id": ["type": "string"], "state": ["type": "string", "enum": ["running", "completed"]],
                            "terminal": ["type": "boolean"], "verdict": ["type": "string", "nullable": true, "enum": ["pass", "fail", "inconclusive"]],
                            "pass_rate": ["type": "number", "nullable": true], "duration_seconds": ["type": "number", "nullable": true],
                            "flaky_across_repeats": ["type": "array", "items": ["type": "object"]], "items": ["type": "array", "items": ["type": "object"]],
                        ],
                    ],
                    "AuditPage": [
                        "type": "object", "required": ["entries", "next_after"],
                        "properties": [
                            "api_version": ["type": "string"], "next_after": ["type": "integer", "nullable": true],
                            "entries": ["type": "array", "items": [
                                "type": "object",
                                "properties": [
                                    "job_id": ["type": "string"], "kind": ["type": "string"], "caller": ["type": "string"], "artifact": ["type": "string"],
                                    "artifact_type": ["type": "string"], "revision": ["type": "string"], "request_digest": ["type": "string"],
                                    "inputs": ["type": "object"], "purpose": ["type": "string"], "state": ["type": "string"],
                                    "verdict": ["type": "string", "nullable": true], "report_digest": ["type": "string", "nullable": true],
                                    "submitted_at": ["type": "string"], "started_at": ["type": "string", "nullable": true], "finished_at": ["type": "string", "nullable": true],
                                ],
                            ]],
                        ],
                    ],
                    "Error": [
                        "type": "object", "required": ["error"],
                        "properties": [
                            "api_version": ["type": "string"],
                            "error": ["type": "object", "required": ["code", "message", "retryable"],
                                      "properties": ["code": ["type": "string"], "message": ["type": "string"], "retryable": ["type": "boolean"], "field": ["type": "string"]]],
                        ],
                    ],
                ],
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
            ],
        ]
    }()
}
