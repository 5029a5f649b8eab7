import ClawcSyntax

/// An IAM wildcard pattern (`*` any run of characters, `?` exactly one), as in ARNs and `StringLike` values.
///
/// Containment between two patterns is decided exactly within a budget: `a.contains(b)` holds iff every string
/// `b` matches, `a` matches too; a search over budget answers "not contained". Both `*` and `?` match any
/// character, `:` and `/` included: this is one string's language. ARN fields are handled by `ResourcePattern`.
public struct Glob: Hashable, Sendable, CustomStringConvertible {
    public let text: String
    let scalars: [Unicode.Scalar]
    /// Whether the pattern holds `*` or `?`; worked out once, since the prover asks it of the same patterns often.
    public let hasWildcards: Bool

    public init(_ text: String) {
        self.text = text
        // One pass: `Array(text.unicodeScalars)` counts the scalars first, then copies them.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.utf8.count)
        var wildcards = false
        for scalar in text.unicodeScalars {
            scalars.append(scalar)
            if scalar == "*" || scalar == "?" { wildcards = true }
        }
        self.scalars = scalars
        hasWildcards = wildcards
    }

    public var description: String { text }

    /// Whether the concrete string `value` is matched by this pattern.
    public func matches(_ value: String) -> Bool {
        // A pattern without wildcards matches exactly its own scalars: compared as UTF-8 bytes, never with
        // `String`'s `==`, which would also take a differently composed `é` for the same string.
        if !hasWildcards { return text.utf8.elementsEqual(value.utf8) }
        return Wildcard.matches(pattern: scalars[...], Array(value.unicodeScalars)[...])
    }

    /// The same answer as `matches`, by simulating the pattern's automaton: an independent implementation the
    /// tests compare against.
    func matchesByAutomaton(_ value: String) -> Bool {
        var state = closure([0])
        for scalar in value.unicodeScalars {
            state = step(state, scalar)
            if state.isEmpty { return false }
        }
        return state.contains(scalars.count)
    }

    /// Whether every string that `other` matches is matched by `self`. Over `budget` the answer is `false`:
    /// "not contained" is the safe answer when the search cannot finish.
    public func contains(_ other: Glob, budget: ProverBudget = ProverBudget()) -> Bool {
        if scalars == [Unicode.Scalar("*")] || self == other { return true }
        if !other.hasWildcards { return matches(other.text) }
        // Every string of `other` starts with its literal prefix and then may go on with any character, so
        // `self`'s literal prefix must be a prefix of it; the same holds for suffixes. Cheap, and rules out most pairs.
        if !other.literalPrefix.starts(with: literalPrefix) { return false }
        if !other.literalSuffix.reversed().starts(with: literalSuffix.reversed()) { return false }
        // Fast path for the common ARN shape: `other` is `literal*` and `self` ends in `*`. Then every
        // `literal·w` is matched iff `literal` is (a match of `literal` extends to any `w` through the final `*`,
        // and `w` empty is one of the cases). Exact, and no search.
        if scalars.last == "*", let first = other.scalars.firstIndex(where: { $0 == "*" || $0 == "?" }),
            other.scalars[first...].allSatisfy({ $0 == "*" })
        {
            return Wildcard.matches(pattern: scalars[...], other.scalars[..<first])
        }
        return Glob.search(in: other, outside: [self], budget: budget) == .contained
    }

    /// The characters before the first wildcard.
    var literalPrefix: ArraySlice<Unicode.Scalar> { scalars.prefix { $0 != "*" && $0 != "?" } }
    /// The characters after the last wildcard.
    var literalSuffix: ArraySlice<Unicode.Scalar> {
        guard let last = scalars.lastIndex(where: { $0 == "*" || $0 == "?" }) else { return scalars[...] }
        return scalars[(last + 1)...]
    }

    /// A concrete string that `other` matches and `self` does not, or nil when there is none (or the search ran
    /// over its budget: callers that need the difference use `search`).
    public func counterexample(in other: Glob, budget: ProverBudget = ProverBudget()) -> String? {
        if case .witness(let word) = Glob.search(in: other, outside: [self], budget: budget) { return word }
        return nil
    }

    /// The answer of a containment search.
    public enum Search: Equatable, Sendable {
        /// Every string of the inner pattern is matched by some outer pattern.
        case contained
        /// A string the inner pattern matches and no outer pattern does.
        case witness(String)
        /// The search ran out of budget; the caller must treat the inner pattern as not contained.
        case unknown
    }

    /// Whether the union of `outers` covers `inner`: `.contained`, a witness string, or `.unknown` over budget.
    ///
    /// Breadth-first search over (position in `inner`, live positions of each outer pattern), over an alphabet of
    /// every literal in the patterns plus one character in none of them; the first accepting state found gives
    /// a shortest witness. The number of states can grow exponentially (`*` followed by runs of `?`), so every
    /// state expanded is charged to `budget`.
    public static func search(in inner: Glob, outside outers: [Glob], budget: ProverBudget = ProverBudget()) -> Search {
        let symbols = alphabet(of: [inner] + outers)
        let start = Node(j: 0, states: outers.map { $0.closure([0]) })
        var parent: [Node: (Node, Unicode.Scalar?)] = [start: (start, nil)]
        var queue = [start]
        var head = 0
        let p = inner.scalars
        while head < queue.count {
            let node = queue[head]
            head += 1
            let width = node.states.reduce(1) { $0 + $1.count }
            guard budget.charge(width * (symbols.count + 1)) else { return .unknown }
            if node.j == p.count {
                let accepted = zip(outers, node.states).contains { outer, states in states.last == outer.scalars.count }
                if !accepted {
                    var word: [Unicode.Scalar] = []
                    var cursor = node
                    while cursor != start, let (previous, symbol) = parent[cursor] {
                        if let symbol { word.append(symbol) }
                        cursor = previous
                    }
                    return .witness(String(String.UnicodeScalarView(word.reversed())))
                }
                continue
            }
            func advance(_ node: Node, _ a: Unicode.Scalar) -> [[Int]] {
                zip(outers, node.states).map { outer, states in outer.step(states, a) }
            }
            var moves: [(Node, Unicode.Scalar?)] = []
            switch p[node.j] {
            case "*":
                moves.append((Node(j: node.j + 1, states: node.states), nil))
                for a in symbols { moves.append((Node(j: node.j, states: advance(node, a)), a)) }
            case "?":
                for a in symbols { moves.append((Node(j: node.j + 1, states: advance(node, a)), a)) }
            default:
                moves.append((Node(j: node.j + 1, states: advance(node, p[node.j])), p[node.j]))
            }
            for (next, symbol) in moves where parent[next] == nil {
                parent[next] = (node, symbol)
                queue.append(next)
            }
        }
        return .contained
    }

    /// Whether some string is matched by both patterns. Over `budget` the answer is `true` (may overlap).
    ///
    /// Reachability in the product of the two patterns' automata, one position in each: (n + 1)·(m + 1) states
    /// at most, each visited once. No subset construction is needed to decide whether two languages meet (only
    /// whether one covers another), so this is exact and polynomial.
    public func overlaps(_ other: Glob, budget: ProverBudget = ProverBudget()) -> Bool {
        if let settled = overlapWithoutSearch(other) { return settled }
        let a = scalars, b = other.scalars
        let width = b.count + 1
        guard budget.charge((a.count + 1) * width) else { return true }
        var seen = [Bool](repeating: false, count: (a.count + 1) * width)
        var stack = [(0, 0)]
        seen[0] = true
        func visit(_ i: Int, _ j: Int) {
            if !seen[i * width + j] {
                seen[i * width + j] = true
                stack.append((i, j))
            }
        }
        while let (i, j) = stack.popLast() {
            if i == a.count && j == b.count { return true }
            // A `*` may match nothing.
            if i < a.count && a[i] == "*" { visit(i + 1, j) }
            if j < b.count && b[j] == "*" { visit(i, j + 1) }
            // One character both can read: any, unless a side needs a literal; two literals must be equal.
            guard i < a.count, j < b.count else { continue }
            let x = a[i], y = b[j]
            let xLiteral = x != "*" && x != "?", yLiteral = y != "*" && y != "?"
            if xLiteral && yLiteral && x != y { continue }
            visit(x == "*" ? i : i + 1, y == "*" ? j : j + 1)
        }
        return false
    }

    /// The overlap answer when one side is a plain string or the literal ends cannot agree; nil when a search must tell.
    private func overlapWithoutSearch(_ other: Glob) -> Bool? {
        if !hasWildcards { return other.matches(text) }
        if !other.hasWildcards { return matches(other.text) }
        let (p, q) = (literalPrefix, other.literalPrefix)
        if !p.starts(with: q) && !q.starts(with: p) { return false }
        let (s1, s2) = (literalSuffix.reversed(), other.literalSuffix.reversed())
        if !s1.starts(with: s2) && !s2.starts(with: s1) { return false }
        return nil
    }

    /// `overlaps` by searching sets of positions, the way containment is searched: an independent implementation
    /// the tests compare against.
    func overlapsBySubsets(_ other: Glob, budget: ProverBudget = ProverBudget()) -> Bool {
        if let settled = overlapWithoutSearch(other) { return settled }
        let symbols = Glob.alphabet(of: [self, other])
        struct Pair: Hashable {
            var a: [Int]
            var b: [Int]
        }
        let start = Pair(a: closure([0]), b: other.closure([0]))
        var seen: Set<Pair> = [start]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let pair = queue[head]
            head += 1
            guard budget.charge((pair.a.count + pair.b.count + 1) * (symbols.count + 1)) else { return true }
            if pair.a.contains(scalars.count) && pair.b.contains(other.scalars.count) { return true }
            for symbol in symbols {
                let next = Pair(a: step(pair.a, symbol), b: other.step(pair.b, symbol))
                if next.a.isEmpty || next.b.isEmpty || seen.contains(next) { continue }
                seen.insert(next)
                queue.append(next)
            }
        }
        return false
    }

    /// Every literal in either pattern, plus one character in neither that stands for all the others.
    private static func alphabet(of globs: [Glob]) -> [Unicode.Scalar] {
        var letters = Set<Unicode.Scalar>()
        for glob in globs {
            for s in glob.scalars where s != "*" && s != "?" { letters.insert(s) }
        }
        let candidates = "x0-_.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwyz123456789".unicodeScalars
        let fresh = candidates.first { !letters.contains($0) } ?? "\u{E000}"
        return letters.sorted { $0.value < $1.value } + [fresh]
    }

    /// A state of the containment search: a position in the inner pattern and the outer pattern's live positions.
    private struct Node: Hashable {
        var j: Int
        var states: [[Int]]
    }

    /// Positions reachable from `states` without consuming input (a `*` may match nothing). Sorted, unique.
    fileprivate func closure(_ states: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(states.count + 2)
        for var i in states {
            if let last = out.last, last >= i { continue }
            out.append(i)
            while i < scalars.count, scalars[i] == "*" {
                i += 1
                out.append(i)
            }
        }
        return out
    }

    /// The positions after reading `c` from each of `states` (sorted), closed under empty `*` matches.
    fileprivate func step(_ states: [Int], _ c: Unicode.Scalar) -> [Int] {
        var next: [Int] = []
        next.reserveCapacity(states.count + 1)
        for i in states where i < scalars.count {
            let target: Int
            switch scalars[i] {
            case "*": target = i
            case "?": target = i + 1
            default:
                guard scalars[i] == c else { continue }
                target = i + 1
            }
            if let last = next.last, last >= target { continue }
            next.append(target)
        }
        return closure(next)
    }
}

/// A bound on the work of one prover decision (or one compile), shared by every search made for it.
///
/// Containment of `*`/`?` patterns is decidable but a search can grow exponentially with runs of `?` after a
/// `*`. Every search charges the states it expands; once the budget is spent each further search answers the
/// safe way ("not contained", "may overlap") at once, so a hostile input costs at most the budget.
public final class ProverBudget: @unchecked Sendable {
    /// Units of work left: one unit is about one automaton position times one alphabet symbol.
    public private(set) var remaining: Int
    /// Whether some search ran out: its answer was the safe one, not necessarily the true one.
    public private(set) var exhausted = false

    /// The default: a few milliseconds of search in a release build (about a tenth of a second in a debug build),
    /// far above what the shipped rules and their tasks need (their searches take a few hundred units).
    public static let defaultUnits = 250_000

    public init(units: Int = ProverBudget.defaultUnits) { self.remaining = units }

    /// Takes `units` from the budget; false (and marked exhausted) when there are not enough left.
    public func charge(_ units: Int) -> Bool {
        if remaining < units {
            remaining = 0
            exhausted = true
            return false
        }
        remaining -= units
        return true
    }
}
