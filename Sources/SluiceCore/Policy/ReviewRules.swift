/// One kind of path a patch may change only with a person's approval: what judges the patch (a
/// gate's script, its runner's configuration) or what changes how git writes files.
public struct ReviewRule: Hashable, Sendable {
    /// The entry's name, as `review_exempt` in `sluice.yml` names it: the pattern, or `gitlinks`.
    public var name: String
    /// The paths it covers; nil for gitlinks, which are found by their mode.
    public var glob: Glob?
    /// Why such a path needs review, for the record.
    public var why: String

    public init(name: String, glob: Glob?, why: String) {
        self.name = name
        self.glob = glob
        self.why = why
    }

    /// The name of the built-in entry for gitlinks (mode 160000).
    public static let gitlinks = "gitlinks"
}

/// The review paths of a configuration: the built-in ones, those `policy.review` adds, less those
/// `policy.review_exempt` names.
public enum ReviewRules {
    /// Every rule that applies to patches under `config`.
    public static func rules(for config: SluiceConfig) -> [ReviewRule] {
        var rules = builtIn(gates: config.gates).filter { !config.policy.reviewExempt.contains($0.name) }
        for glob in config.policy.review {
            rules.append(ReviewRule(name: glob.pattern, glob: glob, why: "sluice.yml lists it under policy.review"))
        }
        return rules
    }

    /// The names of the built-in entries for these gates, for checking `review_exempt`.
    public static func builtInNames(gates: [GateConfig]) -> Set<String> { Set(builtIn(gates: gates).map(\.name)) }

    /// What is always reviewed: git's own behaviour files, gitlinks, every file a gate's command names,
    /// and the configuration of every test runner a gate's command starts.
    static func builtIn(gates: [GateConfig]) -> [ReviewRule] {
        var rules = [
            ReviewRule(
                name: ".gitattributes", glob: Glob("**/.gitattributes"),
                why: "git attributes can run filters and drivers on checkout and diff"),
            ReviewRule(name: ".gitmodules", glob: Glob(".gitmodules"), why: "it says where submodules come from"),
            ReviewRule(
                name: ReviewRule.gitlinks, glob: nil, why: "a gitlink (submodule) brings in code from elsewhere"),
        ]
        var seen = Set(rules.map(\.name))
        func add(_ pattern: String, _ why: String) {
            guard seen.insert(pattern).inserted else { return }
            rules.append(ReviewRule(name: pattern, glob: Glob(pattern), why: why))
        }
        for gate in gates {
            let words = ShellWords.split(gate.command)
            for path in ShellWords.scripts(of: gate.command) {
                add(path, "gate \(gate.name) runs or reads it (\(gate.command))")
            }
            for runner in Runner.allCases where runner.isStarted(by: words) {
                for pattern in runner.configuration {
                    add(pattern, "it configures \(runner.rawValue), which gate \(gate.name) runs")
                }
            }
            for pattern in shadowedModules(words) {
                add(pattern, "it would run instead of the module gate \(gate.name) starts with -m")
            }
        }
        return rules
    }

    /// Test runners whose configuration decides what their gate reports.
    enum Runner: String, CaseIterable {
        case python, pytest, npm, swift, cargo, go, make, tox, nox, maven, gradle

        /// The commands that start it.
        var commands: Set<String> {
            switch self {
            case .python: ["python", "python3", "pypy", "pypy3", "coverage", "uv", "poetry", "pipenv", "hatch"]
            case .pytest: ["pytest", "py.test"]
            case .npm: ["npm", "npx", "yarn", "pnpm", "jest", "vitest", "node", "bun", "deno"]
            case .swift: ["swift"]
            case .cargo: ["cargo"]
            case .go: ["go"]
            case .make: ["make", "gmake"]
            case .tox: ["tox"]
            case .nox: ["nox"]
            case .maven: ["mvn", "mvnw"]
            case .gradle: ["gradle", "gradlew"]
            }
        }

        /// The files that configure it, or that it loads before any test: a module of the same name in
        /// the working directory shadows the installed one (`python -m pytest` puts it first on the path).
        var configuration: [String] {
            switch self {
            case .python:
                [
                    "sitecustomize.py", "usercustomize.py", "**/*.pth", "*.dist-info/**", "*.egg-info/**", "*.egg-link",
                    ".python-version", "pyvenv.cfg",
                ]
            case .pytest:
                [
                    "**/conftest.py", "**/pytest.ini", "**/.pytest.ini", "**/pytest.toml", "**/.pytest.toml",
                    "**/tox.ini", "**/setup.cfg", "**/pyproject.toml", "pytest.py", "pytest/**", "_pytest/**",
                    "py.py", "pluggy.py", "pluggy/**", "iniconfig.py", "iniconfig/**", "packaging/**",
                ]
            case .npm:
                [
                    "**/package.json", "**/jest.config.*", "**/vitest.config.*", "**/.npmrc", "**/.yarnrc",
                    "**/.yarnrc.yml", "pnpm-workspace.yaml", "**/node_modules/**", "**/babel.config.*", "**/.babelrc*",
                    "**/tsconfig*.json",
                ]
            case .swift: ["**/Package.swift", "**/Package@swift-*.swift", ".swiftpm/**"]
            case .cargo: ["**/Cargo.toml", "**/build.rs", ".cargo/**", "rust-toolchain*"]
            case .go: ["**/go.mod", "go.work"]
            case .make: ["**/Makefile", "**/makefile", "**/GNUmakefile", "**/*.mk"]
            case .tox: ["**/tox.ini"]
            case .nox: ["**/noxfile.py"]
            case .maven: ["**/pom.xml", ".mvn/**", "mvnw"]
            case .gradle:
                [
                    "**/build.gradle", "**/build.gradle.kts", "**/settings.gradle", "**/settings.gradle.kts",
                    "gradle/**",
                    "gradlew",
                ]
            }
        }

        /// Whether the command's words start it: as the command (by its base name), or as `python -m pytest`.
        func isStarted(by words: [String]) -> Bool {
            for (index, word) in words.enumerated() {
                let base = word.split(separator: "/").last.map(String.init) ?? word
                if commands.contains(base) || commands.contains(word) { return true }
                if self == .python, base.hasPrefix("python") { return true }
                if word == "-m", index + 1 < words.count, commands.contains(words[index + 1]) { return true }
            }
            return false
        }
    }

    /// `python -m NAME` (and `-m NAME` to any interpreter): a `NAME.py` or `NAME/` in the working
    /// directory would run instead of the installed module.
    static func shadowedModules(_ words: [String]) -> [String] {
        var patterns: [String] = []
        for (index, word) in words.enumerated() where word == "-m" && index + 1 < words.count {
            let module = words[index + 1].split(separator: ".").first.map(String.init) ?? words[index + 1]
            patterns += [module + ".py", module + "/**"]
        }
        return patterns
    }
}

/// Reads a shell command well enough to see which files judge what it runs: quotes are removed,
/// operators (`;`, `&&`, `|`, redirections) separate words and commands. It does not run anything.
enum ShellWords {
    /// One piece of a command line.
    enum Token: Equatable {
        case word(String)
        /// `;`, `&`, `|`, `(`, `)` or a newline: the next word starts a command.
        case separator
        /// `<`: the next word is read as the command's input.
        case input
        /// `>`: the next word is written.
        case output
    }

    static func tokens(_ command: String) -> [Token] {
        var tokens: [Token] = []
        var word = ""
        var started = false
        var quote: Character?
        var escaped = false
        func flush() {
            if started { tokens.append(.word(word)) }
            word = ""
            started = false
        }
        for character in command {
            if escaped {
                word.append(character)
                escaped = false
            } else if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else {
                    word.append(character)
                }
            } else if character == "\\" {
                escaped = true
                started = true
            } else if character == "'" || character == "\"" {
                quote = character
                started = true
            } else if ";&|()`\n".contains(character) {
                flush()
                if tokens.last != .separator { tokens.append(.separator) }
            } else if character == "<" {
                flush()
                tokens.append(.input)
            } else if character == ">" {
                flush()
                tokens.append(.output)
            } else if character.isWhitespace {
                flush()
            } else {
                word.append(character)
                started = true
            }
        }
        flush()
        return tokens
    }

    /// Every word of the command, for finding which runners it starts.
    static func split(_ command: String) -> [String] {
        tokens(command).compactMap { if case .word(let word) = $0 { word } else { nil } }
    }

    /// Programs that run the command after them.
    static let wrappers: Set<String> = [
        "env", "time", "nice", "exec", "command", "nohup", "xvfb-run", "stdbuf", "sudo", "timeout",
    ]
    /// Programs whose first argument that is not an option is a script they run.
    static let interpreters: Set<String> = [
        "sh", "bash", "dash", "zsh", "ksh", "python", "python3", "pypy", "pypy3", "node", "ruby", "perl", "php", "deno",
        "bun", "tclsh", "lua", "Rscript",
    ]
    /// Options whose value names a file that configures the program.
    static let fileOptions: Set<String> = [
        "-c", "-f", "--file", "--config", "--config-file", "--rcfile", "--makefile", "--env-file", "--settings",
        "--init-file", "--rootdir", "--confcutdir", "--inifile",
    ]

    /// The files that judge what the command runs, as paths from the repository's root: the script of
    /// each command (`./run-tests`, `sh ci/check.sh`, `. lib.sh`, `sh < ci/check.sh`), the files its
    /// options name (`-c tests/pytest.cfg`, `--junitxml=out/junit.xml`), a command in `sh -c '…'`,
    /// each relative to the folder a `cd` before it moved to. Arguments that are only what the
    /// program works on (the tests pytest runs, the file a compiler checks) are not among them.
    static func scripts(of command: String, in directory: String = "") -> [String] {
        var paths: [String] = []
        var directory = directory
        func add(_ word: String) {
            guard let path = path(word, in: directory), !paths.contains(path) else { return }
            paths.append(path)
        }
        var commandStart = true
        var program: String?
        var wantsScript = false
        var previous: Token?
        for token in tokens(command) {
            defer { previous = token }
            guard case .word(let word) = token else {
                if token == .separator {
                    commandStart = true
                    program = nil
                    wantsScript = false
                }
                continue
            }
            if previous == .input {
                add(word)
                continue
            }
            if previous == .output { continue }
            if commandStart {
                // VAR=value before a command, and wrappers, leave the command start where it is.
                let name = word.prefix(while: { $0 != "=" })
                if word.contains("="), name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { continue }
                let base = word.split(separator: "/").last.map(String.init) ?? word
                // A wrapper's own options and numbers (`env -i`, `timeout 60`) come before the command.
                if wrappers.contains(base) || word.hasPrefix("-") || Int(word) != nil { continue }
                commandStart = false
                program = base
                if base == "." || base == "source" || interpreters.contains(base) || base.hasPrefix("python") {
                    wantsScript = true
                } else if word.contains("/") || word.contains(".") {
                    // A program named by its path (`./run-tests`, `bin/test`, `check.sh`) is the script.
                    add(word)
                }
                continue
            }
            if program == "cd" || program == "pushd" {
                directory = path(word, in: directory) ?? directory
                program = nil
                continue
            }
            if previous == .word("-m") {
                // `python -m MODULE`: the module is the program now, and its options are its own.
                program = word
                wantsScript = false
                continue
            }
            if case .word(let option)? = previous, fileOptions.contains(option) {
                if option == "-c", let program, interpreters.contains(program) || program.hasPrefix("python") {
                    // sh -c 'COMMAND': a command of its own; python -c CODE: code, no file.
                    if !program.hasPrefix("python") {
                        paths += scripts(of: word, in: directory).filter { !paths.contains($0) }
                    }
                    wantsScript = false
                    continue
                }
                add(word)
                continue
            }
            if word.hasPrefix("-") {
                if let equals = word.firstIndex(of: "=") { add(String(word[word.index(after: equals)...])) }
                // `python -m MODULE` runs a module, not a file.
                if word == "-m" { wantsScript = false }
                continue
            }
            if wantsScript {
                add(word)
                wantsScript = false
            }
        }
        return paths
    }

    /// A word as a path from the repository's root, resolved under `directory`: `./`, `//`, `..` and
    /// `$PWD/` as the shell reads them, a bracket expression as one character (`?`); nil for what is
    /// not a relative path within the repository.
    static func path(_ word: String, in directory: String) -> String? {
        var candidate = word
        for prefix in ["$PWD/", "${PWD}/", "$(pwd)/"] where candidate.hasPrefix(prefix) {
            candidate.removeFirst(prefix.count)
        }
        guard !candidate.isEmpty, !candidate.hasPrefix("/"), !candidate.hasPrefix("$"), !candidate.hasPrefix("~")
        else { return nil }
        candidate = candidate.replacingOccurrences(of: #"\[[^\]/]*\]"#, with: "?", options: .regularExpression)
        var stack = directory.split(separator: "/").map(String.init)
        for component in candidate.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                guard !stack.isEmpty else { return nil }
                stack.removeLast()
            default: stack.append(String(component))
            }
        }
        return stack.isEmpty ? nil : stack.joined(separator: "/")
    }
}
