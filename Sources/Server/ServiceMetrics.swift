import CoreMetrics
import Prometheus

/// The Prometheus backend of swift-metrics for the service: classic histograms in seconds, and a
/// help text for every metric (promtool lints metrics without one). The engine records through
/// the swift-metrics API; this factory is what `serve` bootstraps.
public struct ServiceMetricsFactory: CoreMetrics.MetricsFactory {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// What each metric measures (its `# HELP` line).
    static let help: [String: String] = [
        "evalengine_http_request_duration_seconds": "HTTP request latency by route, method and status.",
        "evalengine_stage_duration_seconds": "Wall time of a stage job from start to verdict, by stage.",
        "evalengine_case_duration_seconds": "Time to answer and score one case (cache hits included), by endpoint.",
        "evalengine_endpoint_request_duration_seconds": "Model endpoint call latency by endpoint and outcome (ok or the error kind).",
        "evalengine_limiter_wait_seconds": "Time a call waited for admission by the endpoint's rate limiter.",
        "evalengine_endpoint_retries_total": "Endpoint call attempts beyond the first, by endpoint.",
        "evalengine_cache_requests_total": "Response cache lookups by result (hit or miss).",
        "evalengine_cases_in_flight": "Cases being answered and scored right now.",
        "evalengine_jobs": "Jobs in the store by state.",
        "evalengine_gate_results_total": "Verdicts of completed jobs by stage, purpose and result.",
        "evalengine_retention_removed_total": "Rows and files retention removed, by kind.",
        "evalengine_store_bytes": "Size of the store's database and write-ahead log.",
        "evalengine_sqlite_memory_bytes": "Memory SQLite holds in the process (page caches), part of the heap.",
        "evalengine_heap_in_use_bytes": "Bytes malloc has handed out and not had back (glibc malloc_info, every arena), SQLite's included.",
        "evalengine_test_pass_rate": "Share of a test suite's requests that passed in its latest run.",
        "evalengine_test_duration_seconds": "Wall time of a test suite's latest run.",
        "evalengine_test_flaky_cases": "Cases whose outcome differed between the repeats of a test suite's latest run.",
    ]

    /// Buckets per histogram (seconds): HTTP handlers are fast, stages are slow.
    static let buckets: [String: [Duration]] = [
        "evalengine_http_request_duration_seconds": [.microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
                                                     .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5), .seconds(30)],
        "evalengine_stage_duration_seconds": [.seconds(0.1), .seconds(0.5), .seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300), .seconds(900), .seconds(3600)],
        "evalengine_limiter_wait_seconds": [.microseconds(100), .milliseconds(1), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500),
                                            .seconds(1), .seconds(5), .seconds(30)],
    ]
    static let defaultBuckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                             .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]

    func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: ServiceMetricsFactory.help[label] ?? "evalengine metric \(label).")
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: [1, 10, 100, 1000, 10000])
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: ServiceMetricsFactory.buckets[label] ?? ServiceMetricsFactory.defaultBuckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
        if let h = handler as? ValueHistogram { registry.unregisterValueHistogram(h) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let h = handler as? DurationHistogram { registry.unregisterDurationHistogram(h) }
    }
}
