import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import ClawcRuntime

/// STS answers are read by a small hand-written reader (`XMLFields`) so that clawc does not link libxml2. Here it is
/// held to Foundation's `XMLParser` (libxml2), the reader it replaced: it is never more lenient (what it reads,
/// `XMLParser` reads too), and on every document both read they agree on the fields and on the names seen twice.
/// It is stricter where `XMLParser` is lenient: that parser feeds libxml2 without ever telling it the input ended,
/// so it accepts an empty or cut-off answer, text after the root element and unquoted attributes; an STS answer
/// like that is now "not well-formed", an unknown outcome, which is what a cut-off answer is.
@Suite struct XMLFieldsTests {
    /// What `XMLParser` makes of a document, collected exactly as clawc collected it before.
    static func reference(_ data: Data) -> (values: [String: String], duplicates: Set<String>, wellFormed: Bool) {
        final class Collector: NSObject, XMLParserDelegate {
            var values: [String: String] = [:]
            var seen = Set<String>()
            var duplicates = Set<String>()
            var text = ""

            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                if !seen.insert(name).inserted { duplicates.insert(name) }
                text = ""
            }

            func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

            func parser(_ parser: XMLParser, foundCDATA block: Data) { text += String(decoding: block, as: UTF8.self) }

            func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
                let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if !value.isEmpty { values[name] = value }
                text = ""
            }
        }
        let collector = Collector()
        let parser = XMLParser(data: data)
        parser.delegate = collector
        let wellFormed = parser.parse()
        return (collector.values, collector.duplicates, wellFormed)
    }

    /// Real answers: moto's and AWS's documented shapes, an error, and the attacks the reader must see through.
    static let corpus: [String] = [
        """
        <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <AssumeRoleWithWebIdentityResult>
            <SubjectFromWebIdentityToken>system:serviceaccount:agents:runner</SubjectFromWebIdentityToken>
            <Audience>sts.amazonaws.com</Audience>
            <AssumedRoleUser>
              <Arn>arn:aws:sts::123456789012:assumed-role/agents/runner@t-1</Arn>
              <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:runner@t-1</AssumedRoleId>
            </AssumedRoleUser>
            <Credentials>
              <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
              <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
              <Expiration>2026-12-06T23:00:00Z</Expiration>
              <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
            </Credentials>
            <Provider>www.amazon.com</Provider>
          </AssumeRoleWithWebIdentityResult>
          <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
        </AssumeRoleWithWebIdentityResponse>
        """,
        #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n" + """
        <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>\
        <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity &amp; more &lt;here&gt; &#x41;&#66; &quot;q&quot; &apos;a&apos;</Message>\
        </Error><RequestId>1</RequestId></ErrorResponse>
        """,
        "<a><b>one</b><b>two</b></a>",
        "<a><Credentials><AccessKeyId>A1</AccessKeyId></Credentials><Credentials><AccessKeyId>A2</AccessKeyId></Credentials></a>",
        "<a>text<b/>more</a>",
        "<a><!-- a comment --><b>x<!-- inside -->y</b></a>",
        "<a><b><![CDATA[<not> &a tag;]]></b></a>",
        "<a x='1' y=\"2\"><b z='&amp;'>v</b></a>",
        "\u{FEFF}<a><b>bom</b></a>",
        "<?xml version='1.0'?><?other stuff?><a><?pi inside?><b>v</b></a><!-- after -->\n",
        "<a><b>  \t\n spaced \n </b></a>",
        "<a><b>\u{00A0}nbsp\u{2003}</b></a>",
        "<a><b>Ünïcødé ✓ 𝄞</b></a>",
        "<a:b xmlns:a='urn:x'><a:c>prefixed</a:c></a:b>",
        // Not well-formed: XMLFields refuses every one of these (`XMLParser` some of them).
        "",
        "   ",
        "<a>",
        "<a></b>",
        "<a><b></a></b>",
        "<a>x</a><b>second root</b>",
        "text before<a/>",
        "<a/>text after",
        "<a>&unknown;</a>",
        "<a>&amp</a>",
        "<a>& </a>",
        "<a>&#0;</a>",
        "<a>&#xD800;</a>",
        "<a>&#x110000;</a>",
        "<a>&#;</a>",
        "<a>&#x;</a>",
        "<a>\u{01}</a>",
        "<a>]]></a>",
        "<a b='1' b='2'/>",
        "<a b=1/>",
        "<a b='<'/>",
        "<ab='1'/>",
        "<a b='1'c='2'/>",
        "<1a/>",
        "<a><!-- bad -- comment --></a>",
        "<a><![CDATA[unterminated</a>",
        "<a><?xml version='1.0'?></a>",
        "<a></a ",
        "<",
        "<a>\u{0}</a>",
    ]

    /// Where the well-formed part of the corpus ends.
    static let firstMalformed = corpus.firstIndex(of: "")!

    @Test func agreesWithXMLParserOnTheCorpus() {
        for (index, document) in Self.corpus.enumerated() {
            let data = Data(document.utf8)
            let ours = XMLFields.parseChecked(data), theirs = Self.reference(data)
            #expect(ours.wellFormed == (index < Self.firstMalformed), "well-formed? \(document.debugDescription)")
            #expect(!ours.wellFormed || theirs.wellFormed, "more lenient than XMLParser on \(document.debugDescription)")
            guard ours.wellFormed, theirs.wellFormed else { continue }
            #expect(ours.values == theirs.values, "\(document.debugDescription)")
            #expect(ours.duplicates == theirs.duplicates, "\(document.debugDescription)")
        }
    }

    /// Seeded random documents and every truncation and many byte flips of them: XMLFields reads no document
    /// `XMLParser` refuses, reads every whole document `XMLParser` reads, and where both read they agree.
    @Test func agreesWithXMLParserOnGeneratedDocuments() {
        var random = SplitMix64(seed: propertySeed(17))
        let names = ["Credentials", "AccessKeyId", "Arn", "a", "b", "x:y", "Code", "Message"]
        let texts = ["", "v", " spaced ", "&amp;", "&lt;&gt;", "&#x263A;", "<![CDATA[c]]>", "<!--c-->", "\n  ", "é", "&bad;", "]]>"]
        func element(depth: Int) -> String {
            let name = names[Int.random(in: 0..<names.count, using: &random)]
            if depth > 3 || Int.random(in: 0..<4, using: &random) == 0 {
                return "<\(name)>\(texts[Int.random(in: 0..<texts.count, using: &random)])</\(name)>"
            }
            let children = (0..<Int.random(in: 0...3, using: &random)).map { _ in
                element(depth: depth + 1) + texts[Int.random(in: 0..<texts.count, using: &random)]
            }
            return "<\(name) k='v'>" + children.joined() + "</\(name)>"
        }
        var checked = 0, disagreements: [String] = []
        for _ in 0..<300 {
            let document = Array(element(depth: 0).utf8)
            var variants = [document]
            for cut in stride(from: 0, to: document.count, by: max(1, document.count / 12)) { variants.append(Array(document[..<cut])) }
            for _ in 0..<6 {
                var flipped = document
                let index = Int.random(in: 0..<flipped.count, using: &random)
                flipped[index] = Array("<>/&;'=!-?]x ".utf8)[Int.random(in: 0..<13, using: &random)]
                variants.append(flipped)
            }
            for (index, variant) in variants.enumerated() {
                let data = Data(variant)
                let ours = XMLFields.parseChecked(data), theirs = Self.reference(data)
                checked += 1
                // The whole document is read by both when it is well-formed (it may hold `&bad;` or a stray `]]>`).
                let refusedAWholeDocument = index == 0 && theirs.wellFormed && !ours.wellFormed
                let moreLenient = ours.wellFormed && !theirs.wellFormed
                let differentFields = ours.wellFormed && theirs.wellFormed && (ours.values != theirs.values || ours.duplicates != theirs.duplicates)
                if refusedAWholeDocument || moreLenient || differentFields { disagreements.append(String(decoding: variant, as: UTF8.self)) }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(checked) disagree, e.g. \(disagreements.prefix(5))")
    }

    /// Where the two part on purpose: a DTD is refused (libxml2 reads it, with its internal entities), so an
    /// answer cannot define `&x;` to be anything.
    @Test func aDocumentTypeIsRefused() {
        let data = Data(#"<!DOCTYPE a [<!ENTITY x "ASIAFORGED">]><a><AccessKeyId>&x;</AccessKeyId></a>"#.utf8)
        #expect(!XMLFields.parseChecked(data).wellFormed)
        #expect(XMLFields.parseChecked(data).values.isEmpty)
    }

    @Test func deepNestingIsRefusedWithoutRecursion() {
        let deep = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        #expect(!XMLFields.parseChecked(Data(deep.utf8)).wellFormed)
        let fine = String(repeating: "<a>", count: 64) + "v" + String(repeating: "</a>", count: 64)
        #expect(XMLFields.parseChecked(Data(fine.utf8)).values == ["a": "v"])
    }

    /// Text broken up by comments is one value, and the largest answer the HTTP layer lets through (just under its
    /// 1 MiB limit), single characters between 120,000 comments, is read well within a bound.
    @Test func textBetweenManyCommentsIsReadInLinearTime() {
        let pieces = 120_000
        let document = "<a>" + String(repeating: "x<!---->", count: pieces) + "</a>"
        #expect(document.utf8.count < 1 << 20)
        let started = ContinuousClock.now
        let parsed = XMLFields.parseChecked(Data(document.utf8))
        let elapsed = ContinuousClock.now - started
        #expect(parsed.wellFormed)
        #expect(parsed.values["a"]?.count == pieces)
        #expect(elapsed < .seconds(2), "\(elapsed) for a \(document.utf8.count)-byte answer")
    }

    @Test func invalidUTF8IsRefused() {
        #expect(!XMLFields.parseChecked(Data([0x3C, 0x61, 0x3E, 0xFF, 0x3C, 0x2F, 0x61, 0x3E])).wellFormed)
    }
}
