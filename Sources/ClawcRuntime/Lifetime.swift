/// How long a credential lives: from the task's estimate with a margin, within the rule's and the role's bounds.
public struct LifetimeChoice: Sendable, Equatable {
    public var seconds: Int
    /// One line for `--explain`: how the number was chosen.
    public var explanation: String

    public init(seconds: Int, explanation: String) {
        self.seconds = seconds
        self.explanation = explanation
    }
}

public enum LifetimePolicy {
    /// STS's shortest role session.
    public static let stsFloor = 900
    /// AWS's default `MaxSessionDuration` for a role, used when the role's own is not configured.
    public static let defaultRoleMax = 3600

    /// The margin added to an estimate: a quarter of it (rounded up), at least 30 seconds.
    ///
    /// Written so that no estimate can overflow it: the parsers refuse estimates over 36 hours, but this is the
    /// arithmetic a trap would happen in, so it does not rely on them (`(estimate + 3) / 4` trapped on `Int.max`).
    public static func margin(for estimate: Int) -> Int {
        let estimate = max(0, estimate)
        return max(30, estimate / 4 + (estimate % 4 == 0 ? 0 : 1))
    }

    /// `a + b`, or `Int.max` when that overflows; the result is capped at the ceiling right after.
    static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b < 0 ? Int.min : Int.max) : sum
    }

    /// The lifetime for a task. `floor` is the issuing path's minimum (900 for web identity, 1 for scoped).
    public static func choose(
        estimated: Int?, ruleDefault: Int?, ruleMax: Int?, roleMax: Int?, floor: Int = stsFloor
    ) -> Result<LifetimeChoice, LifetimeError> {
        let ceiling = min(ruleMax ?? defaultRoleMax, roleMax ?? defaultRoleMax)
        if ceiling < floor {
            return .failure(.ceilingBelowFloor(ceiling: ceiling, floor: floor))
        }
        var steps: [String] = []
        var seconds: Int
        if let estimated {
            let estimated = max(0, estimated)
            seconds = saturatingSum(estimated, margin(for: estimated))
            steps.append("estimate \(estimated)s + margin \(margin(for: estimated))s = \(seconds)s")
        } else if let ruleDefault {
            seconds = ruleDefault
            steps.append("no estimate; rule default \(ruleDefault)s")
        } else {
            seconds = floor
            steps.append("no estimate and no rule default; the floor")
        }
        if seconds < floor {
            seconds = floor
            steps.append("raised to the floor \(floor)s")
        }
        if seconds > ceiling {
            seconds = ceiling
            let bound = (ruleMax ?? Int.max) <= (roleMax ?? defaultRoleMax) ? "the rule's lifetime.max" : "the role's maximum session"
            steps.append("capped at \(ceiling)s by \(bound); the task may outlive its credential")
        }
        return .success(LifetimeChoice(seconds: seconds, explanation: steps.joined(separator: "; ")))
    }
}

public enum LifetimeError: Error, Equatable, CustomStringConvertible {
    case ceilingBelowFloor(ceiling: Int, floor: Int)

    public var description: String {
        switch self {
        case let .ceilingBelowFloor(ceiling, floor):
            "the longest lifetime allowed (\(ceiling)s) is below this path's minimum of \(floor)s"
        }
    }
}
