/// One kind of path a patch may change only with a person's approval: what judges the patch (a
/// gate's script, its runner's configuration) or what changes how git writes files.
public struct ReviewRule: Hashable, Sendable {
    /// The entry's name, as `review_exempt` in `sluice.yml` names it: the pattern, `gitlinks`, or
    /// `python-modules`.
    public var name: String
    /// The paths it covers; none for gitlinks, which are found by their mode.
    public var globs: [Glob]
    /// Why such a path needs review, for the record.
    public var why: String

    public init(name: String, globs: [Glob], why: String) {
        self.name = name
        self.globs = globs
        self.why = why
    }

    /// A rule of one pattern, named by it (nil: none, for gitlinks).
    public init(name: String, glob: Glob?, why: String) {
        self.init(name: name, globs: glob.map { [$0] } ?? [], why: why)
    }

    /// Whether the rule covers `path`.
    public func matches(_ path: String) -> Bool { globs.contains { $0.matches(path) } }

    /// The name of the built-in entry for gitlinks (mode 160000).
    public static let gitlinks = "gitlinks"
    /// The name of the built-in entry for modules that shadow Python's own.
    public static let pythonModules = "python-modules"

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
        var shadowing: [Glob] = []
        for gate in gates {
            let words = ShellWords.split(gate.command)
            var scripts = ShellWords.scripts(of: gate.command)
            // What sluice.yml's env: names for the gate: scripts and files (SCRIPT: ci/x.sh,
            // PYTEST_ADDOPTS: -c ci/pytest.cfg), import roots (PYTHONPATH), plugins (PYTEST_PLUGINS).
            var importRoots = [""] + ShellWords.directories(of: gate.command)
            for (name, value) in gate.environment.sorted(by: { $0.key < $1.key }) {
                switch name {
                case "PYTHONPATH":
                    importRoots += value.split(separator: ":").compactMap { ShellWords.path(String($0), in: "") }
                case "PYTEST_PLUGINS":
                    scripts += value.split(separator: ",").flatMap { ShellWords.modulePaths(String($0)) }
                default:
                    scripts += ShellWords.split(value).compactMap { word in
                        word.contains("/") || word.contains(".") ? ShellWords.path(word, in: "") : nil
                    }
                }
            }
            for path in scripts {
                add(path, "gate \(gate.name) runs or reads it (\(gate.command))")
            }
            // A runner's files are read from where the command runs: the root and each folder it moves to.
            let folders = [""] + ShellWords.directories(of: gate.command)
            for runner in Runner.allCases where runner.isStarted(by: words) {
                for pattern in runner.configuration {
                    for folder in folders where folder.isEmpty || !pattern.hasPrefix("**/") {
                        add(
                            folder.isEmpty ? pattern : folder + "/" + pattern,
                            "it configures \(runner.rawValue), which gate \(gate.name) runs")
                    }
                }
            }
            // A module in an import root shadows the standard library's (or the one -m names): one entry.
            if Runner.python.isStarted(by: words) || Runner.pytest.isStarted(by: words) {
                for root in Set(importRoots).sorted() {
                    for module in standardLibrary + shadowedModules(words) {
                        let base = root.isEmpty ? module : root + "/" + module
                        shadowing += [Glob(base + ".py"), Glob(base + "/**")]
                    }
                }
            }
        }
        if !shadowing.isEmpty {
            rules.append(
                ReviewRule(
                    name: ReviewRule.pythonModules, globs: shadowing,
                    why: "a Python module there would be imported instead of the installed one of that name"))
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
                    ".python-version", "pyvenv.cfg", "**/__pycache__/**", "**/*.pyc", ".coveragerc",
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
        var modules: [String] = []
        for (index, word) in words.enumerated() where word == "-m" && index + 1 < words.count {
            modules.append(words[index + 1].split(separator: ".").first.map(String.init) ?? words[index + 1])
        }
        return modules + [
            "_pytest", "pytest", "pluggy", "iniconfig", "packaging", "py", "sitecustomize", "usercustomize",
        ]
    }

    /// The standard library's top-level modules (Python 3.11's `sys.stdlib_module_names`), less the
    /// few no runner imports and projects often name folders after (`test`, `site`, `venv`, …).
    static let standardLibrary: [String] = [
        "_abc", "_aix_support", "_ast", "_asyncio", "_bisect", "_blake2", "_bootsubprocess", "_bz2", "_codecs",
        "_codecs_cn", "_codecs_hk", "_codecs_iso2022", "_codecs_jp", "_codecs_kr", "_codecs_tw", "_collections",
        "_collections_abc", "_compat_pickle", "_compression", "_contextvars", "_crypt", "_csv", "_ctypes", "_curses",
        "_curses_panel", "_datetime", "_dbm", "_decimal", "_elementtree", "_frozen_importlib",
        "_frozen_importlib_external", "_functools", "_gdbm", "_hashlib", "_heapq", "_imp", "_io", "_json", "_locale",
        "_lsprof", "_lzma", "_markupbase", "_md5", "_msi", "_multibytecodec", "_multiprocessing", "_opcode",
        "_operator", "_osx_support", "_overlapped", "_pickle", "_posixshmem", "_posixsubprocess", "_py_abc",
        "_pydecimal", "_pyio", "_queue", "_random", "_scproxy", "_sha1", "_sha256", "_sha3", "_sha512", "_signal",
        "_sitebuiltins", "_socket", "_sqlite3", "_sre", "_ssl", "_stat", "_statistics", "_string", "_strptime",
        "_struct", "_symtable", "_thread", "_threading_local", "_tkinter", "_tokenize", "_tracemalloc", "_typing",
        "_uuid", "_warnings", "_weakref", "_weakrefset", "_winapi", "_zoneinfo", "abc", "aifc", "argparse", "array",
        "ast", "asynchat", "asyncio", "asyncore", "atexit", "audioop", "base64", "bdb", "binascii", "bisect",
        "builtins", "bz2", "cProfile", "calendar", "cgi", "cgitb", "chunk", "cmath", "cmd", "code", "codecs",
        "codeop", "collections", "colorsys", "compileall", "concurrent", "configparser", "contextlib", "contextvars",
        "copy", "copyreg", "crypt", "csv", "ctypes", "curses", "dataclasses", "datetime", "dbm", "decimal",
        "difflib", "dis", "distutils", "doctest", "email", "encodings", "enum", "errno", "faulthandler", "fcntl",
        "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "gc", "genericpath", "getopt",
        "getpass", "gettext", "glob", "graphlib", "grp", "gzip", "hashlib", "heapq", "hmac", "html", "http",
        "imaplib", "imghdr", "imp", "importlib", "inspect", "io", "ipaddress", "itertools", "json", "keyword",
        "linecache", "locale", "logging", "lzma", "mailbox", "mailcap", "marshal", "math", "mimetypes", "mmap",
        "modulefinder", "msilib", "msvcrt", "multiprocessing", "netrc", "nis", "nntplib", "nt", "ntpath",
        "nturl2path", "numbers", "opcode", "operator", "optparse", "os", "ossaudiodev", "pathlib", "pdb", "pickle",
        "pickletools", "pipes", "pkgutil", "platform", "plistlib", "poplib", "posix", "posixpath", "pprint",
        "profile", "pstats", "pty", "pwd", "py_compile", "pyclbr", "pydoc", "pyexpat", "queue", "quopri", "random",
        "re", "readline", "reprlib", "resource", "rlcompleter", "runpy", "sched", "secrets", "select", "selectors",
        "shelve", "shlex", "shutil", "signal", "smtpd", "smtplib", "sndhdr", "socket", "socketserver", "spwd",
        "sqlite3", "sre_compile", "sre_constants", "sre_parse", "ssl", "stat", "statistics", "string", "stringprep",
        "struct", "subprocess", "sunau", "symtable", "sys", "sysconfig", "syslog", "tabnanny", "tarfile",
        "telnetlib", "tempfile", "termios", "textwrap", "threading", "time", "timeit", "token", "tokenize",
        "tomllib", "trace", "traceback", "tracemalloc", "tty", "turtle", "types", "typing", "unicodedata",
        "unittest", "urllib", "uu", "uuid", "warnings", "wave", "weakref", "webbrowser", "winreg", "winsound",
        "wsgiref", "xdrlib", "xml", "xmlrpc", "zipapp", "zipfile", "zipimport", "zlib", "zoneinfo",
    ]
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
        read(command, in: directory).scripts
    }

    /// The folders the command moves to before running something (`cd DIR`, `make -C DIR`).
    static func directories(of command: String) -> [String] {
        read(command, in: "").directories
    }

    /// The files of a module name (`tests.myplugin` → `tests/myplugin.py`, `tests/myplugin/**`).
    static func modulePaths(_ module: String) -> [String] {
        let name = module.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.hasPrefix("no:"),
            name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." })
        else { return [] }
        let path = name.replacingOccurrences(of: ".", with: "/")
        return [path + ".py", path + "/**"]
    }

    /// What comes next on the command line, when the word before says.
    private enum Pending {
        case file, command, code, module, directory, skip
    }

    static let shells: Set<String> = ["sh", "bash", "dash", "zsh", "ksh"]
    /// Python modules whose first argument is a script they run (`python -m cProfile ci/run.py`).
    static let scriptRunners: Set<String> = ["cProfile", "profile", "trace", "coverage", "runpy", "pdb"]

    private static func read(_ command: String, in start: String) -> (scripts: [String], directories: [String]) {
        var paths: [String] = []
        var folders: [String] = []
        var directory = start
        func add(_ word: String, folder: Bool = false) {
            guard let path = path(word, in: directory) else { return }
            for candidate in folder ? [path, path + "/**"] : [path] where !paths.contains(candidate) {
                paths.append(candidate)
            }
        }
        func move(_ word: String) {
            directory = path(word, in: directory) ?? directory
            if !directory.isEmpty, !folders.contains(directory) { folders.append(directory) }
        }
        var commandStart = true
        var program: String?
        var wantsScript = false
        var pending: Pending?
        var previous: Token?
        for token in tokens(command) {
            defer { previous = token }
            guard case .word(let word) = token else {
                if token == .separator {
                    commandStart = true
                    program = nil
                    wantsScript = false
                    pending = nil
                }
                continue
            }
            if previous == .input {
                add(word)
                continue
            }
            if previous == .output { continue }
            let isPython = program?.hasPrefix("python") == true || program.map(scriptRunners.contains) == true
            if commandStart {
                // VAR=value before a command, and wrappers, leave the command start where it is.
                let name = word.prefix(while: { $0 != "=" })
                if word.contains("="), name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { continue }
                let base = word.split(separator: "/").last.map(String.init) ?? word
                // A wrapper's own options and numbers (`env -i`, `timeout 60`) come before the command.
                if wrappers.contains(base) || word.hasPrefix("-") || Int(word) != nil { continue }
                commandStart = false
                program = base
                if base == "." || base == "source" || interpreters.contains(base) || base.hasPrefix("python")
                    || base == "coverage"
                {
                    wantsScript = true
                } else if word.contains("/") || word.contains(".") {
                    // A program named by its path (`./run-tests`, `bin/test`, `check.sh`) is the script.
                    add(word)
                }
                continue
            }
            if let kind = pending {
                pending = nil
                switch kind {
                case .file: add(word)
                case .command:
                    for path in read(word, in: directory).scripts where !paths.contains(path) { paths.append(path) }
                case .module: paths += modulePaths(word).filter { !paths.contains($0) }
                case .directory: move(word)
                case .code, .skip: break
                }
                continue
            }
            if program == "cd" || program == "pushd" {
                move(word)
                program = nil
                continue
            }
            if previous == .word("-m") {
                // `python -m MODULE`: the module is the program now, and its options are its own; some
                // modules run a script given next.
                program = word
                wantsScript = scriptRunners.contains(word)
                continue
            }
            if program == "coverage", word == "run" { continue }
            if word.hasPrefix("-") || (word.hasPrefix("+") && program.map(shells.contains) == true) {
                if let equals = word.firstIndex(of: "=") { add(String(word[word.index(after: equals)...])) }
                let single = !word.hasPrefix("--")
                if let program, shells.contains(program) {
                    if single, word.dropFirst().contains("c") {
                        pending = .command
                    } else if ["-o", "+o", "-O", "+O"].contains(word) {
                        pending = .skip
                    }
                } else if isPython, program?.hasPrefix("python") == true {
                    switch word {
                    case "-m": wantsScript = false
                    case "-c": pending = .code
                    case "-X", "-W", "-Q": pending = .skip
                    default: break
                    }
                } else if isPython {
                    if ["-o", "-s", "--rcfile"].contains(word) { pending = word == "--rcfile" ? .file : .skip }
                } else if program == "pytest" || program == "py.test" {
                    if word == "-p" {
                        pending = .module
                    } else if single, word.hasPrefix("-p"), word.count > 2 {
                        paths += modulePaths(String(word.dropFirst(2))).filter { !paths.contains($0) }
                    } else if fileOptions.contains(word) {
                        pending = .file
                    }
                } else if program == "make" || program == "gmake" {
                    if word == "-C" || word == "--directory" {
                        pending = .directory
                    } else if single, word.hasPrefix("-C"), word.count > 2 {
                        move(String(word.dropFirst(2)))
                    } else if fileOptions.contains(word) {
                        pending = .file
                    } else if single, word.hasPrefix("-f"), word.count > 2 {
                        add(String(word.dropFirst(2)))
                    }
                } else if fileOptions.contains(word) {
                    pending = .file
                }
                continue
            }
            if wantsScript {
                // A folder given to Python runs its __main__.py.
                let last = word.split(separator: "/").last.map(String.init) ?? word
                add(word, folder: isPython && !last.contains("."))
                if path(word, in: directory) != nil { wantsScript = false }
            }
        }
        return (paths, folders)
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
