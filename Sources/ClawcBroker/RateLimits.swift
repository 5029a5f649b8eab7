import Foundation

/// A token bucket: `rate` tokens a second, at most `burst` kept. Not thread-safe; `SubjectLimits` and `UpstreamLimit`
/// hold it under their lock.
struct TokenBucket {
    var tokens: Double
    var updated: ContinuousClock.Instant

    /// Takes one token, or says how many seconds until one is there.
    mutating func take(rate: Double, burst: Double, now: ContinuousClock.Instant) -> TimeInterval? {
        let elapsed = now - updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * rate)
        updated = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return (1 - tokens) / rate
    }
}

/// Per-subject request limits: each token subject gets `rate` requests a second with bursts of `burst`. A refused
/// request gets `429` with `Retry-After`. Memory is bounded: at most `maxSubjects` buckets are kept, and full ones
/// (subjects that have not asked for a while) are dropped first when room is needed.
public final class SubjectLimits: @unchecked Sendable {
    public let rate: Double
    public let burst: Double
    let maxSubjects: Int
    private let lock = NSLock()
    private var buckets: [String: TokenBucket] = [:]

    public init(rate: Double, burst: Double, maxSubjects: Int = 100_000) {
        self.rate = rate
        self.burst = max(1, burst)
        self.maxSubjects = maxSubjects
    }

    /// nil when the request may go ahead, else the seconds to wait.
    public func admit(_ subject: String, now: ContinuousClock.Instant = .now) -> TimeInterval? {
        lock.withLock {
            if buckets[subject] == nil, buckets.count >= maxSubjects { evict(now: now) }
            var bucket = buckets[subject] ?? TokenBucket(tokens: burst, updated: now)
            let wait = bucket.take(rate: rate, burst: burst, now: now)
            buckets[subject] = bucket
            return wait
        }
    }

    /// Drops buckets that have refilled (their subject is idle); if none has, drops half, arbitrary ones: a flood of
    /// new subjects then costs each new subject its burst, never unbounded memory.
    private func evict(now: ContinuousClock.Instant) {
        let refill = Duration.seconds(burst / rate)
        buckets = buckets.filter { now - $0.value.updated < refill }
        if buckets.count >= maxSubjects {
            let keep = buckets.keys.prefix(maxSubjects / 2)
            buckets = buckets.filter { keep.contains($0.key) }
        }
    }
}

/// The node's own limit on calls to STS, shared by every request: AWS throttles STS per account and region, and a
/// broker that keeps sending into throttling only makes it last. A request waits up to `maxWait` for its turn, then
/// is refused with `429` (nothing was written, nothing was sent). After STS answers with throttling, the node holds
/// back for a jittered pause before the next call.
public final class UpstreamLimit: @unchecked Sendable {
    public let rate: Double
    public let maxWait: TimeInterval
    private let lock = NSLock()
    private var bucket: TokenBucket
    private var pausedUntil: ContinuousClock.Instant

    public init(rate: Double, maxWait: TimeInterval = 1) {
        self.rate = rate
        self.maxWait = maxWait
        self.bucket = TokenBucket(tokens: max(1, rate / 10), updated: .now)
        self.pausedUntil = .now
    }

    /// Waits for a turn; false when none comes within `maxWait` (or the node is backing off for longer than that).
    public func acquire() async -> Bool {
        let deadline = ContinuousClock.now + .seconds(maxWait)
        while true {
            let now = ContinuousClock.now
            let wait: TimeInterval? = lock.withLock {
                if now < pausedUntil {
                    let left = pausedUntil - now
                    return Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
                }
                return bucket.take(rate: rate, burst: max(1, rate / 10), now: now)
            }
            guard let wait else { return true }
            if now + .seconds(wait) > deadline { return false }
            try? await Task.sleep(for: .seconds(wait))
        }
    }

    /// STS said it is throttling: no call leaves this node for a jittered pause (full jitter up to `ceiling`).
    public func throttled(ceiling: TimeInterval = 0.5) {
        let pause = Double.random(in: 0.05...max(0.05, ceiling))
        lock.withLock {
            let until = ContinuousClock.now + .seconds(pause)
            if until > pausedUntil { pausedUntil = until }
        }
    }
}
