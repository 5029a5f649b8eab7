import Foundation

/// How long to keep trying for a lock another process holds, and how long to pause between tries.
///
/// The pauses are jittered ("full jitter", growing from a few milliseconds to `maxPause`) so that processes woken
/// together do not collide again together, and the last pause never runs past the deadline. The caller sleeps
/// with `Task.sleep`, never by blocking its thread.
struct RetryBudget {
    let limit: Duration
    let deadline: ContinuousClock.Instant
    let maxPause: Duration
    private var attempt = 0
    private var triedAfterDeadline = false

    init(limit: Duration, maxPause: Duration = .milliseconds(100)) {
        self.limit = limit
        self.deadline = ContinuousClock.now + limit
        self.maxPause = maxPause
    }

    /// The next pause, or nil once the deadline has passed and the last try after it was made. A task can wake
    /// well after its deadline on a loaded machine; it then tries once more rather than fail on a lock that may
    /// long have been released.
    mutating func nextPause() -> Duration? {
        let now = ContinuousClock.now
        guard now < deadline else {
            if triedAfterDeadline { return nil }
            triedAfterDeadline = true
            return .zero
        }
        attempt += 1
        let ceiling = min(maxPause, .milliseconds(2) * (1 << min(attempt, 12)))
        let milliseconds = max(1, ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000)
        let pause = Duration.milliseconds(Int64.random(in: 1...milliseconds))
        return min(pause, deadline - now)
    }

    /// `limit` for a message: "10 s", "1.5 s".
    var limitText: String {
        let (seconds, attoseconds) = limit.components
        let tenths = attoseconds / 100_000_000_000_000_000
        return tenths == 0 ? "\(seconds) s" : "\(seconds).\(tenths) s"
    }
}
