/// "Did you mean" suggestions by edit distance.
///
/// The word comes from a rule or a task, so it can be any length: a suggestion must cost time in proportion to
/// the candidates, not to the word times the candidates. (A 200 KB unknown service name once took 16 s here,
/// over two minutes in a debug build: a full distance matrix against each of 400 prefixes.)
public enum Suggestion {
    /// The longest word, in scalars, worth a suggestion. No AWS service prefix, action or key is near it, and a
    /// longer word is not a typo of one of them.
    public static let maxWordLength = 128

    /// The candidate closest to `word` (case-insensitive), if it is close enough to be a likely typo.
    public static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        guard word.unicodeScalars.count <= maxWordLength else { return nil }
        let target = Array(word.lowercased().unicodeScalars)
        let allowed = max(1, min(3, target.count / 3))
        var best: (String, Int)?
        for candidate in candidates {
            // A candidate can only be within `allowed` edits if its length is; the bound shrinks as matches improve.
            let bound = min(allowed, (best?.1 ?? allowed + 1) - 1)
            guard bound >= 0 else { break }
            let lowered = Array(candidate.lowercased().unicodeScalars)
            guard abs(lowered.count - target.count) <= bound else { continue }
            guard let distance = editDistance(target, lowered, limit: bound) else { continue }
            best = (candidate, distance)
        }
        return best?.0
    }

    /// Edit distance counting an insertion, deletion, substitution or swap of neighbours as one edit.
    public static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        editDistance(a, b, limit: max(a.count, b.count)) ?? max(a.count, b.count)
    }

    /// The edit distance when it is at most `limit`, else nil.
    ///
    /// Only the band of cells within `limit` of the diagonal can lead to a distance within it, and a row whose
    /// every cell is over the limit ends the search: O(length × limit) time and O(length) memory.
    public static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int) -> Int? {
        guard limit >= 0, abs(a.count - b.count) <= limit else { return nil }
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        let over = limit + 1
        // Three rows of the matrix (two back, for swaps), each b.count + 1 wide; cells outside the band stay `over`.
        var before = [Int](repeating: over, count: b.count + 1)
        var previous = [Int](repeating: over, count: b.count + 1)
        var current = [Int](repeating: over, count: b.count + 1)
        for j in 0...min(b.count, limit) { previous[j] = j }
        for i in 1...a.count {
            let low = max(1, i - limit), high = min(b.count, i + limit)
            // The row was used two rows ago: clear the band and one cell either side, which is all that is read.
            if low - 1 <= min(b.count, high + 1) {
                for j in (low - 1)...min(b.count, high + 1) { current[j] = over }
            }
            current[0] = i <= limit ? i : over
            var rowBest = current[0]
            if low <= high {
                for j in low...high {
                    let cost = a[i - 1] == b[j - 1] ? 0 : 1
                    var d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                    if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                        d = min(d, before[j - 2] + 1)
                    }
                    current[j] = min(d, over)
                    rowBest = min(rowBest, current[j])
                }
            }
            if rowBest > limit { return nil }
            (before, previous, current) = (previous, current, before)
        }
        let distance = previous[b.count]
        return distance <= limit ? distance : nil
    }
}
