import Testing
@testable import ClawcPolicy

@Test func globBasics() {
    #expect(Glob("a*").contains(Glob("ab")))
}
