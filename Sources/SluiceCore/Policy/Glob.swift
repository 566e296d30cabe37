/// A path pattern: `*` matches within one path component, `**` across components (and `dir/**`
/// matches everything under `dir`), `?` one character. Patterns without a slash match at any depth
/// only when they start with `**/`; otherwise they are anchored at the repository root.
public struct Glob: Hashable, Sendable, CustomStringConvertible {
    public let pattern: String
    private let tokens: [UInt8]

    public init(_ pattern: String) {
        self.pattern = pattern
        self.tokens = Array(pattern.utf8)
    }

    public var description: String { pattern }

    /// Whether `path` (relative, `/`-separated) matches.
    public func matches(_ path: String) -> Bool {
        Glob.match(tokens[...], Array(path.utf8)[...])
    }

    private static func match(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        var p = pattern.startIndex
        var t = text.startIndex
        while p < pattern.endIndex {
            let c = pattern[p]
            if c == UInt8(ascii: "*") {
                let isDouble = p + 1 < pattern.endIndex && pattern[p + 1] == UInt8(ascii: "*")
                if isDouble {
                    var rest = p + 2
                    // `**/` also matches zero directories.
                    if rest < pattern.endIndex && pattern[rest] == UInt8(ascii: "/") {
                        if match(pattern[(rest + 1)...], text[t...]) { return true }
                        rest += 1
                    }
                    if rest == pattern.endIndex { return true }
                    var i = t
                    while i <= text.endIndex {
                        if match(pattern[rest...], text[i...]) { return true }
                        if i == text.endIndex { break }
                        i += 1
                    }
                    return false
                }
                var i = t
                while true {
                    if match(pattern[(p + 1)...], text[i...]) { return true }
                    if i == text.endIndex || text[i] == UInt8(ascii: "/") { return false }
                    i += 1
                }
            }
            guard t < text.endIndex else { return false }
            if c == UInt8(ascii: "?") {
                if text[t] == UInt8(ascii: "/") { return false }
            } else if c != text[t] {
                return false
            }
            p += 1
            t += 1
        }
        return t == text.endIndex
    }
}
