// The ledger's cost per issuance, SQLite beside PostgreSQL in one run: `begin` (the `issuing` row and its audit
// record) then `recordIssued` (the credential and its audit record), as `clawc issue` does around its STS call.
//
//     swift run -c release ledger-bench --sqlite DIR --postgres URL [--issuances N] [--concurrency C]
//
// The stores take turns in rounds of 50 issuances, so both see the same machine noise. Each store starts empty.
// Prints p50, p99 and the mean per issuance, and issuances per second, for each store; docs/benchmarks.md has the
// figures and how they were made.
import ClawcRuntime
import Foundation

struct Options {
    var sqlite: String?
    var postgres: String?
    var issuances = 1000
    var concurrency = 1

    init(_ arguments: [String]) {
        var rest = arguments.dropFirst()
        while let flag = rest.popFirst() {
            let value = rest.popFirst() ?? ""
            switch flag {
            case "--sqlite": sqlite = value
            case "--postgres": postgres = value
            case "--issuances": issuances = Int(value) ?? issuances
            case "--concurrency": concurrency = max(1, Int(value) ?? 1)
            default:
                FileHandle.standardError.write(Data("ledger-bench: unknown option \(flag)\n".utf8))
                exit(2)
            }
        }
    }
}

struct Subject {
    var name: String
    var store: any LedgerStore
    var samples: [Double] = []
    var elapsed: Double = 0
}

func entry(_ task: String, now: Date) -> LedgerEntry {
    var entry = LedgerEntry(
        taskID: task, purpose: "log-analysis", subject: "system:serviceaccount:agents:bot", jwtID: "jti-" + task,
        policySHA256: String(repeating: "a", count: 64), sessionName: "bot@" + task, roleARN: "arn:aws:iam::123456789012:role/agents",
        via: .webIdentity, tokenExpiresAt: now.addingTimeInterval(900), now: now)
    entry.policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-logs/*"}]}"#
    return entry
}

/// One issuance's ledger work, timed.
func issue(_ store: any LedgerStore, _ task: String) async throws -> Double {
    let now = Date()
    let start = ContinuousClock.now
    try await store.begin(entry(task, now: now))
    try await store.recordIssued(task: task, accessKeyID: "ASIABENCH", sessionID: "AROA:bot@" + task, expiresAt: now.addingTimeInterval(900),
                                 state: .pending, roleARN: nil, sealed: "v1." + String(repeating: "A", count: 600), now: now)
    let took = ContinuousClock.now - start
    return Double(took.components.seconds) * 1e3 + Double(took.components.attoseconds) / 1e15
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

let options = Options(CommandLine.arguments)
var subjects: [Subject] = []
if let dir = options.sqlite {
    subjects.append(Subject(name: "SQLite", store: try Ledger(path: dir + "/bench-\(UUID().uuidString.prefix(8)).sqlite")))
}
if let url = options.postgres {
    let location = try PostgresLocation.parse(url, environment: ProcessInfo.processInfo.environment)
    subjects.append(Subject(name: "PostgreSQL", store: try PostgresLedger(location: location, maximumConnections: max(8, options.concurrency))))
}
guard !subjects.isEmpty else {
    FileHandle.standardError.write(Data("usage: ledger-bench --sqlite DIR --postgres URL [--issuances N] [--concurrency C]\n".utf8))
    exit(2)
}
// Warm up: schema, connections, caches.
for index in subjects.indices { for warm in 0..<20 { _ = try await issue(subjects[index].store, "warm-\(warm)") } }

let round = 50
var done = 0
while done < options.issuances {
    for index in subjects.indices {
        let store = subjects[index].store
        let first = done
        let count = min(round, options.issuances - done)
        let start = ContinuousClock.now
        let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
            for lane in 0..<options.concurrency {
                group.addTask {
                    var mine: [Double] = []
                    var task = first + lane
                    while task < first + count {
                        mine.append(try await issue(store, "task-\(task)"))
                        task += options.concurrency
                    }
                    return mine
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all
        }
        let took = ContinuousClock.now - start
        subjects[index].elapsed += Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
        subjects[index].samples += samples
    }
    done += round
}

print("ledger cost per issuance (begin + record, two audit appends), \(options.issuances) issuances, concurrency \(options.concurrency)")
print("store        p50 ms   p99 ms   mean ms  issuances/s")
for subject in subjects {
    let sorted = subject.samples.sorted()
    let mean = sorted.reduce(0, +) / Double(max(1, sorted.count))
    let name = subject.name.padding(toLength: 10, withPad: " ", startingAt: 0)
    print(name + String(format: " %8.3f %8.3f %9.3f %12.0f", percentile(sorted, 0.5), percentile(sorted, 0.99), mean, Double(sorted.count) / subject.elapsed))
    await subject.store.close()
}
