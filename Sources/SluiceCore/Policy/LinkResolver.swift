/// Resolves symbolic links the way the file system will once a tree is checked out: component by
/// component, following every other link of the same tree on the way, so that a link cannot reach
/// outside the repository, or into `.git` or `.sluice`, by going through another link.
public struct LinkResolver: Sendable {
    /// Every symbolic link of the tree: path → target, as stored in the link's blob.
    public let links: [String: String]
    /// The most links followed while resolving one, as the kernel limits it (ELOOP).
    public static let maxHops = 40

    public init(links: [String: String]) {
        self.links = links
    }

    /// Why a link is refused.
    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// It leads outside the repository (an absolute target, or `..` past the root).
        case outside(through: String)
        /// It reaches a directory patches may never touch.
        case reserved(String)
        /// It never ends (too many links followed).
        case loop

        public var description: String {
            switch self {
            case .outside(let link) where link.isEmpty: "it points outside the repository"
            case .outside(let link): "it points outside the repository (through \(link))"
            case .reserved(let name): "it reaches \(name)"
            case .loop: "it does not resolve (more than \(LinkResolver.maxHops) links followed)"
            }
        }
    }

    /// Where the link at `path` leads, relative to the repository root, or why it is refused.
    public func resolve(link path: String) -> Result<String, Refusal> {
        guard let target = links[path] else { return .success(path) }
        var hops = 0
        var parent = path.split(separator: "/").map(String.init)
        parent.removeLast()
        return walk(from: parent, target, through: path, hops: &hops).map { $0.joined(separator: "/") }
    }

    private func walk(from start: [String], _ target: String, through link: String, hops: inout Int) -> Result<
        [String], Refusal
    > {
        hops += 1
        if hops > Self.maxHops { return .failure(.loop) }
        if target.hasPrefix("/") { return .failure(.outside(through: link)) }
        var stack = start
        for component in target.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                if stack.isEmpty { return .failure(.outside(through: link)) }
                stack.removeLast()
            default:
                stack.append(String(component))
                if let reserved = Self.reservedName(stack) { return .failure(.reserved(reserved)) }
                let prefix = stack.joined(separator: "/")
                if let next = links[prefix] {
                    stack.removeLast()
                    switch walk(from: stack, next, through: prefix, hops: &hops) {
                    case .success(let resolved): stack = resolved
                    case .failure(let refusal): return .failure(refusal)
                    }
                }
            }
        }
        return .success(stack)
    }

    /// `.git` anywhere, or `.sluice` at the root, in any letter case (some file systems ignore it).
    static func reservedName(_ components: [String]) -> String? {
        if let first = components.first, first.lowercased() == ".sluice" { return ".sluice" }
        if components.contains(where: { $0.lowercased() == ".git" }) { return ".git" }
        return nil
    }
}
