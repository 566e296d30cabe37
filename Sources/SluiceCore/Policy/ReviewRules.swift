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
            for path in ShellWords.paths(in: words) {
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

/// Splits a shell command into words well enough to see which files it names: quotes are removed,
/// operators (`;`, `&&`, `|`, redirections) separate words, and a quoted word holding a command of
/// its own (`sh -c 'sh ci/x.sh'`) is split too. It does not run anything.
enum ShellWords {
    static func split(_ command: String) -> [String] {
        var words: [String] = []
        var word = ""
        var quote: Character?
        var escaped = false
        var quotedSpace = false
        func flush() {
            if !word.isEmpty {
                words.append(word)
                // A quoted word with spaces may be a command line itself: its words count too.
                if quotedSpace, command != word { words += split(word) }
            }
            word = ""
            quotedSpace = false
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
                    if character.isWhitespace { quotedSpace = true }
                    word.append(character)
                }
            } else if character == "\\" {
                escaped = true
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character.isWhitespace || ";&|<>()`".contains(character) {
                flush()
            } else {
                word.append(character)
            }
        }
        flush()
        return words
    }

    /// The words that look like files of the repository, as paths from its root: relative paths with a
    /// directory or an extension, from the word itself or from an `--option=value`, after `cd DIR`
    /// also under DIR, normalised (`./`, `//`, `..`, `$PWD/`); shell patterns stay patterns.
    static func paths(in words: [String]) -> [String] {
        var paths: [String] = []
        var directory: String?
        var index = 0
        while index < words.count {
            let word = words[index]
            index += 1
            if word == "cd" || word == "pushd" {
                if index < words.count {
                    directory = normalize(words[index], under: directory ?? "")
                    index += 1
                }
                continue
            }
            var candidate = word
            if candidate.hasPrefix("-") {
                guard let equals = candidate.firstIndex(of: "=") else { continue }
                candidate = String(candidate[candidate.index(after: equals)...])
            } else if let equals = candidate.firstIndex(of: "="),
                candidate[..<equals].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
            {
                // VAR=value: the value may name a file.
                candidate = String(candidate[candidate.index(after: equals)...])
            }
            for prefix in ["$PWD/", "${PWD}/", "$(pwd)/"] where candidate.hasPrefix(prefix) {
                candidate.removeFirst(prefix.count)
            }
            guard !candidate.isEmpty, !candidate.hasPrefix("/"), !candidate.hasPrefix("$"), !candidate.hasPrefix("~"),
                !candidate.hasSuffix("/"), candidate.contains("/") || candidate.contains(".")
            else { continue }
            // A bracket expression matches one character, as `?` does.
            candidate = candidate.replacingOccurrences(of: #"\[[^\]/]*\]"#, with: "?", options: .regularExpression)
            for base in [directory, ""].compactMap({ $0 }) {
                if let path = normalize(candidate, under: base), !path.isEmpty, !paths.contains(path) {
                    paths.append(path)
                }
            }
        }
        return paths
    }

    /// `path` relative to `base` (both from the repository root), with `.`, `..` and empty components
    /// resolved; nil when it leaves the repository.
    static func normalize(_ path: String, under base: String) -> String? {
        var stack = base.split(separator: "/").map(String.init)
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                guard !stack.isEmpty else { return nil }
                stack.removeLast()
            default: stack.append(String(component))
            }
        }
        return stack.joined(separator: "/")
    }
}
