import ClawcRuntime
import Foundation
import Testing

/// clawc's SigV4 against AWS's published example and against botocore's signer on generated requests.
@Suite struct SigV4Tests {
    static let example = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let exampleDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    /// `get-vanilla` from AWS's SigV4 test suite.
    @Test func awsTestSuiteGetVanilla() throws {
        let request = SigV4.Request(method: "GET", url: try #require(URL(string: "https://example.amazonaws.com/")))
        let headers = SigV4.sign(request, credentials: Self.example, region: "us-east-1", service: "service", date: Self.exampleDate)
        #expect(headers["Authorization"] == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(headers["X-Amz-Date"] == "20150830T123600Z")
    }

    /// `get-vanilla-query-order-key-case` from AWS's SigV4 test suite.
    @Test func awsTestSuiteQueryOrder() throws {
        let request = SigV4.Request(method: "GET", url: try #require(URL(string: "https://example.amazonaws.com/?Param2=value2&Param1=value1")))
        let headers = SigV4.sign(request, credentials: Self.example, region: "us-east-1", service: "service", date: Self.exampleDate)
        #expect(headers["Authorization"]?.hasSuffix("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") == true, "\(headers)")
    }

    /// 300 generated requests: methods, paths, queries, headers, bodies, temporary credentials; botocore must agree.
    @Test func agreesWithBotocore() throws {
        let seed = propertySeed(4)
        var rng = SplitMix64(seed: seed)
        let words = ["a", "b-c", "d_e", "F.g", "h~i", "space here", "x+y", "ü", "%41", "=", "&", "é/ö"]
        var items: [[String: Any]] = []
        var ours: [String] = []
        for _ in 0..<300 {
            let method = ["GET", "POST", "PUT", "DELETE"].randomElement(using: &rng) ?? "GET"
            var components = URLComponents()
            components.scheme = "https"
            components.host = ["iam.amazonaws.com", "sts.eu-west-1.amazonaws.com", "127.0.0.1"].randomElement(using: &rng)
            if Bool.random(using: &rng) { components.port = Int.random(in: 1000...9000, using: &rng) }
            components.path = "/" + (0..<Int.random(in: 0...2, using: &rng)).map { _ in words.randomElement(using: &rng) ?? "a" }
                .map { $0.replacingOccurrences(of: "/", with: "") }.joined(separator: "/")
            if Bool.random(using: &rng) {
                // Query strings are sent encoded the AWS way; the signer signs them as sent.
                components.percentEncodedQueryItems = (0..<Int.random(in: 1...3, using: &rng)).map { i in
                    URLQueryItem(name: FormEncoding.escape("P\(i)\(words.randomElement(using: &rng) ?? "")"),
                                 value: FormEncoding.escape(words.randomElement(using: &rng) ?? ""))
                }
            }
            guard let url = components.url else { continue }
            var headers = ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"]
            if Bool.random(using: &rng) { headers["X-Custom-Header"] = "  two   spaces  " }
            let body = Data(FormEncoding.encode([("Action", "GetRole"), ("RoleName", words.randomElement(using: &rng) ?? "r")]).utf8)
            let credentials = AWSCredentials(
                accessKeyID: "AKID\(rng.next() % 10000)", secretAccessKey: "secret/\(rng.next())+key",
                sessionToken: Bool.random(using: &rng) ? "token\(rng.next())" : nil)
            let date = Date(timeIntervalSince1970: Double(1_700_000_000 + Int(rng.next() % 100_000_000)))
            let region = ["us-east-1", "eu-west-1"].randomElement(using: &rng) ?? "us-east-1"
            let service = ["iam", "sts"].randomElement(using: &rng) ?? "iam"
            let signed = SigV4.sign(SigV4.Request(method: method, url: url, headers: headers, body: body), credentials: credentials, region: region, service: service, date: date)
            ours.append(signed["Authorization"] ?? "")
            items.append([
                "method": method, "url": url.absoluteString, "headers": headers, "body": body.base64EncodedString(),
                "accessKey": credentials.accessKeyID, "secretKey": credentials.secretAccessKey,
                "sessionToken": credentials.sessionToken as Any, "region": region, "service": service,
                "timestamp": SigV4.timestamp(date),
            ])
        }
        let input = try JSONSerialization.data(withJSONObject: items)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputFile = dir.appendingPathComponent("in.json")
        try input.write(to: inputFile)
        let run = try runProgram(URL(fileURLWithPath: "/bin/sh"), ["-c", "python3 Tests/peers/sigv4_reference.py < '\(inputFile.path)'"])
        #expect(run.status == 0, "\(run.stderr)")
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String])
        #expect(theirs.count == ours.count)
        for (index, (a, b)) in zip(ours, theirs).enumerated() {
            #expect(a == b, "seed \(seed) request \(index) \(items[index]["url"] ?? ""):\n ours   \(a)\n botocore \(b)")
        }
    }
}
