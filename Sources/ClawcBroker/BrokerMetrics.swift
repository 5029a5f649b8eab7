import Foundation
import Prometheus

/// The broker's Prometheus metrics (DESIGN section 10), served as text at `/metrics`.
///
/// Label values come from a closed set only: a purpose is a label when a rule for it is loaded (a task naming an
/// unknown purpose counts under `unknown`), and outcomes and services are clawc's own words. No request can
/// create a new time series, so the registry's memory does not grow with what callers send.
public final class BrokerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let lock = NSLock()
    private var issuances: [String: Counter] = [:]
    private var upstream: [String: Counter] = [:]
    private var knownPurposes: Set<String> = []
    let duration: DurationHistogram

    static var issuancesName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "clawc", metricName: "issuances", unitName: "total",
            helpText: "Credential requests answered, by purpose and outcome (issued, repeated, or the error code).")
    }
    static var durationName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "clawc", metricName: "issue_duration", unitName: "seconds",
            helpText: "Time from a request's arrival to its answer, for POST /v1/credentials.")
    }
    static var upstreamName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "clawc", metricName: "upstream_requests", unitName: "total",
            helpText: "Calls to STS and the identity provider's keys, by outcome.")
    }

    public init() {
        duration = registry.makeDurationHistogram(
            descriptor: Self.durationName, labels: [],
            buckets: [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)])
    }

    /// The purposes that may appear as labels: those of the rules loaded (and, after a reload, those before it).
    public func allow(purposes: [String]) {
        lock.withLock { knownPurposes.formUnion(purposes) }
    }

    public func issuance(purpose: String?, outcome: String) {
        let counter: Counter = lock.withLock {
            let label = purpose.flatMap { knownPurposes.contains($0) ? $0 : nil } ?? "unknown"
            let key = label + "\u{0}" + outcome
            if let made = issuances[key] { return made }
            let made = registry.makeCounter(descriptor: Self.issuancesName, labels: [("purpose", label), ("outcome", outcome)])
            issuances[key] = made
            return made
        }
        counter.increment()
    }

    public func upstream(service: String, outcome: String, count: Int = 1) {
        guard count > 0 else { return }
        let counter: Counter = lock.withLock {
            let key = service + "\u{0}" + outcome
            if let made = upstream[key] { return made }
            let made = registry.makeCounter(descriptor: Self.upstreamName, labels: [("service", service), ("outcome", outcome)])
            upstream[key] = made
            return made
        }
        counter.increment(by: Int64(count))
    }

    public func observe(_ elapsed: Duration) { duration.record(elapsed) }

    /// The exposition text.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
