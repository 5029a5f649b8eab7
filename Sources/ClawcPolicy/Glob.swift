import ClawcSyntax

/// An IAM wildcard pattern (`*` any run of characters, `?` exactly one), as in ARNs and `StringLike` values.
///
/// Containment between two patterns is decided exactly: `a.contains(b)` holds iff every string `b` matches,
/// `a` matches too. Both `*` and `?` match any character, `:` and `/` included, as IAM matches resource ARNs.
public struct Glob: Hashable, Sendable, CustomStringConvertible {
    public let text: String
    let scalars: [Unicode.Scalar]

    public init(_ text: String) {
        self.text = text
        self.scalars = Array(text.unicodeScalars)
    }

    public var description: String { text }
    public var hasWildcards: Bool { scalars.contains { $0 == "*" || $0 == "?" } }

    /// Whether the concrete string `value` is matched by this pattern.
    public func matches(_ value: String) -> Bool {
        Wildcard.matches(pattern: scalars[...], Array(value.unicodeScalars)[...])
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

    /// Whether every string that `other` matches is matched by `self`.
    public func contains(_ other: Glob) -> Bool {
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
        return counterexample(in: other) == nil
    }

    /// The characters before the first wildcard.
    var literalPrefix: ArraySlice<Unicode.Scalar> { scalars.prefix { $0 != "*" && $0 != "?" } }
    /// The characters after the last wildcard.
    var literalSuffix: ArraySlice<Unicode.Scalar> {
        guard let last = scalars.lastIndex(where: { $0 == "*" || $0 == "?" }) else { return scalars[...] }
        return scalars[(last + 1)...]
    }

    /// A concrete string that `other` matches and `self` does not, or nil when there is none.
    public func counterexample(in other: Glob) -> String? { Glob.witness(in: other, outside: [self]) }

    /// A concrete string that `inner` matches and none of `outers` does, or nil when the union covers `inner`.
    ///
    /// Breadth-first search over (position in `inner`, live positions of each outer pattern), over an alphabet of
    /// every literal in the patterns plus one character in none of them; the first accepting state found gives
    /// a shortest witness.
    public static func witness(in inner: Glob, outside outers: [Glob]) -> String? {
        let symbols = alphabet(of: [inner] + outers)
        let start = Node(j: 0, states: outers.map { $0.closure([0]) })
        var parent: [Node: (Node, Unicode.Scalar?)] = [start: (start, nil)]
        var queue = [start]
        var head = 0
        let p = inner.scalars
        while head < queue.count {
            let node = queue[head]
            head += 1
            if node.j == p.count {
                let accepted = zip(outers, node.states).contains { outer, states in states.last == outer.scalars.count }
                if !accepted {
                    var word: [Unicode.Scalar] = []
                    var cursor = node
                    while cursor != start, let (previous, symbol) = parent[cursor] {
                        if let symbol { word.append(symbol) }
                        cursor = previous
                    }
                    return String(String.UnicodeScalarView(word.reversed()))
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
        return nil
    }

    /// Whether some string is matched by both patterns.
    public func overlaps(_ other: Glob) -> Bool {
        if !hasWildcards { return other.matches(text) }
        if !other.hasWildcards { return matches(other.text) }
        let (p, q) = (literalPrefix, other.literalPrefix)
        if !p.starts(with: q) && !q.starts(with: p) { return false }
        let (s1, s2) = (literalSuffix.reversed(), other.literalSuffix.reversed())
        if !s1.starts(with: s2) && !s2.starts(with: s1) { return false }
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
