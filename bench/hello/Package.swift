// swift-tools-version: 6.0
// The floor for a cold start: a statically linked Swift program that imports Foundation and prints one line.
// bench/run.sh and bench/cold.sh time clawc against it in the same run.
import PackageDescription

let package = Package(name: "hello", targets: [.executableTarget(name: "hello")])
