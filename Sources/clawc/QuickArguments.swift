import ClawcCompiler

/// `clawc compile` and `clawc check` as scripts and CI write them, and `clawc --version`, read without
/// argument-parser.
///
/// argument-parser learns a command's options by reflecting over its types. That is the right tool, and it is
/// what clawc uses for every command, every option spelling, every error and all help; but on a cold start it costs
/// more than the compile itself (the Swift runtime's first look-ups of each type's conformances). So the two
/// commands run cold most often take a narrow fast path first: `--name value` and `--name=value` pairs of the
/// command's own options, each at most once, values that are not empty and do not start with `-`, and values
/// argument-parser would accept (a number for `--max-chars` within its range, a known `--target` or `--format`).
/// Anything else, a typo, `--help`, a repeated option, a value that looks like an option, is left to
/// argument-parser, which parses it and reports it as it always has. `QuickArgumentsTests` runs each of a corpus
/// of command lines both ways and requires the same output and exit status.
enum QuickArguments {
    /// The work for `arguments` (without the program name), or nil to take argument-parser's path.
    static func command(_ arguments: [String]) -> (() throws -> Void)? {
        guard let name = arguments.first else { return nil }
        let rest = arguments.dropFirst()
        if arguments == ["--version"] { return { Console.output(Clawc.configuration.version + "\n") } }
        switch name {
        case "compile":
            guard let run = compile(rest) else { return nil }
            return run.run
        case "check":
            guard let run = check(rest) else { return nil }
            return run.run
        default:
            return nil
        }
    }

    static func compile(_ arguments: ArraySlice<String>) -> CompileRun? {
        guard let values = pairs(arguments, options: ["rules", "task", "max-chars", "target", "catalog"], flags: ["explain"]),
            let rules = values["rules"], let task = values["task"]
        else { return nil }
        var maxChars = Compiler.defaultMaxChars
        if let text = values["max-chars"] {
            guard let number = Int(text), CompileCommand.maxCharsRange.contains(number) else { return nil }
            maxChars = number
        }
        var target = CompileCommand.Target.aws
        if let text = values["target"] {
            guard let named = CompileCommand.Target(rawValue: text) else { return nil }
            target = named
        }
        return CompileRun(rules: rules, task: task, maxChars: maxChars, explain: values["explain"] != nil, target: target, catalog: values["catalog"])
    }

    static func check(_ arguments: ArraySlice<String>) -> CheckRun? {
        guard let values = pairs(arguments, options: ["rules", "golden", "format", "catalog"], flags: ["update"]) else { return nil }
        var format = CheckCommand.Format.text
        if let text = values["format"] {
            guard let named = CheckCommand.Format(rawValue: text) else { return nil }
            format = named
        }
        return CheckRun(rules: values["rules"] ?? CheckCommand.defaultRules, golden: values["golden"] ?? CheckCommand.defaultGolden,
                        update: values["update"] != nil,
                        format: format, catalog: values["catalog"])
    }

    /// Option name → value (flags map to ""), or nil for anything outside the narrow form described above.
    static func pairs(_ arguments: ArraySlice<String>, options: Set<String>, flags: Set<String>) -> [String: String]? {
        var values: [String: String] = [:]
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else { return nil }
            var name = Substring(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = name[..<equals]
            }
            let key = String(name)
            guard values[key] == nil else { return nil }
            if flags.contains(key) {
                guard value == nil else { return nil }
                values[key] = ""
                continue
            }
            guard options.contains(key) else { return nil }
            if value == nil {
                guard index < arguments.endIndex else { return nil }
                value = arguments[index]
                index += 1
            }
            guard let value, !value.isEmpty, !value.hasPrefix("-") else { return nil }
            values[key] = value
        }
        return values
    }
}
