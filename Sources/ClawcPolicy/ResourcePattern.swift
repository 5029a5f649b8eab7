/// A policy `Resource` value as clawc reads it: an ARN pattern by its fields, or one plain pattern.
///
/// AWS documents wildcards in an ARN as working within its colon-separated segments, and a `*` that ends a
/// segment as possibly reaching past the colons after it. A rule author who writes account `123456789012`
/// means that account, whatever a wildcard next to it could swallow. So containment is decided field by field
/// (partition, service, region, account, then the resource part, which may hold colons), and in a way that is
/// safe under both readings:
///
/// - a field of the inner pattern that holds a wildcard is inside the outer one only when the outer field is
///   exactly `*` or the very same pattern (under the wider reading such a wildcard could reach later fields, so
///   the inner pattern may reach no further than the rule's own; what the rule's own can reach is reported by
///   `reachesPastField`);
/// - a literal field is inside when the outer field's pattern matches it (fields hold no colon);
/// - the resource parts are compared as plain patterns.
///
/// A pattern that is not `arn:` followed by five colon-separated parts (`*`, `arn:aws:s3*`, a non-ARN resource)
/// is read as one string, its wildcards matching colons too, as before.
public struct ResourcePattern: Hashable, Sendable, CustomStringConvertible {
    public let text: String
    /// Partition, service, region and account, for an ARN pattern; nil for a plain one.
    public let fields: [Glob]?
    /// The resource part of an ARN pattern, or the whole text of a plain one.
    public let resource: Glob

    /// The names of the fields, for messages.
    public static let fieldNames = ["partition", "service", "region", "account"]

    public init(_ text: String) {
        self.text = text
        // The first five colons, found on the bytes (a colon is one byte in UTF-8 and never part of another).
        var colons: [String.Index] = []
        colons.reserveCapacity(5)
        var index = text.utf8.startIndex
        while colons.count < 5, index < text.utf8.endIndex {
            if text.utf8[index] == UInt8(ascii: ":") { colons.append(index) }
            index = text.utf8.index(after: index)
        }
        if colons.count == 5, text.utf8.starts(with: "arn:".utf8) {
            fields = (0..<4).map { Glob(String(text[text.index(after: colons[$0])..<colons[$0 + 1]])) }
            resource = Glob(String(text[text.index(after: colons[4])...]))
        } else {
            fields = nil
            resource = Glob(text)
        }
    }

    public var description: String { text }
    public var isARN: Bool { fields != nil }
    public var hasWildcards: Bool { resource.hasWildcards || (fields ?? []).contains { $0.hasWildcards } }

    /// The first of partition, service, region and account that holds a wildcard (its index), if any.
    ///
    /// Under the wider reading of IAM's rule such a wildcard may reach past the colons after it, into the fields
    /// that follow: the pattern then stays inside its account only if something else pins the account.
    public var reachesPastField: Int? { fields?.firstIndex { $0.hasWildcards } }

    /// Whether every resource `inner` can match lies inside `self`, under both readings of IAM's rule.
    public func contains(_ inner: ResourcePattern, budget: ProverBudget = ProverBudget()) -> Bool {
        // The same scalars, compared as bytes: `String`'s `==` would also take a differently composed `é` for the
        // same ARN, which IAM does not.
        if text == "*" || text.utf8.elementsEqual(inner.text.utf8) { return true }
        // Every decision costs at least a unit, so that many cheap ones are bounded too.
        guard budget.charge(1) else { return false }
        guard let outerFields = fields else {
            // A plain outer pattern is one string: compare the inner as written, its wildcards matching anything.
            return resource.contains(Glob(inner.text), budget: budget)
        }
        guard let innerFields = inner.fields, Self.prefixCovers(outerFields, innerFields) else { return false }
        // The resource parts are compared as plain patterns, so this also holds under the wider reading: a string
        // the inner pattern matches splits at its five literal colons into pieces, each matched by the outer's
        // field (a literal inner field by a field that matches it, a wildcard one by `*` or the same pattern).
        return resource.contains(inner.resource, budget: budget)
    }

    /// Whether outer fields cover inner fields: a literal inner field must match; a wildcard one needs an outer
    /// `*` or the same pattern.
    static func prefixCovers(_ outer: [Glob], _ inner: [Glob]) -> Bool {
        zip(outer, inner).allSatisfy { o, i in
            i.hasWildcards ? (o.text == "*" || o.text.utf8.elementsEqual(i.text.utf8)) : o.matches(i.text)
        }
    }

    /// Whether the union of `outers` covers `inner`; `.unknown` over budget (callers treat it as not covered).
    ///
    /// For an ARN inner pattern, each outer ARN either covers all of its partition, service, region and account or
    /// none of them (a literal inner field is matched or not; a wildcard inner field needs an outer `*` or the same pattern), so the
    /// union is decided on the resource parts of the outers that cover the fields. Plain outer patterns other than
    /// `*` take no part in a union (a sound simplification: it can only answer "not covered" more often).
    public static func search(in inner: ResourcePattern, outside outers: [ResourcePattern], budget: ProverBudget = ProverBudget()) -> Glob.Search {
        if outers.contains(where: { $0.contains(inner, budget: budget) }) { return .contained }
        if budget.exhausted { return .unknown }
        guard let innerFields = inner.fields else {
            let plain = outers.filter { !$0.isARN }.map(\.resource)
            return Glob.search(in: inner.resource, outside: plain, budget: budget)
        }
        let covering = outers.compactMap { outer -> Glob? in
            guard let fields = outer.fields, prefixCovers(fields, innerFields) else { return nil }
            return outer.resource
        }
        switch Glob.search(in: inner.resource, outside: covering, budget: budget) {
        case .contained: return .contained
        case .unknown: return .unknown
        case .witness(let rest):
            let prefix = innerFields.map { field in
                String(field.text.unicodeScalars.compactMap { $0 == "*" ? nil : $0 == "?" ? "x" : Character($0) })
            }
            return .witness((["arn"] + prefix + [rest]).joined(separator: ":"))
        }
    }
}
