import Foundation
import SluiceCore

/// Where a working tree's git data lives, read from the files git itself writes, without running git
/// (so that `sluice init` stays synchronous). The same answers as `git rev-parse --git-dir` and
/// `--git-common-dir`.
public enum GitDirectory {
    /// The git directory of the working tree at `repository`: `.git` itself, or the folder a `.git`
    /// file names (`gitdir: …`, as in a linked worktree or a submodule); nil when there is neither.
    public static func gitDirectory(ofWorkingTree repository: String) -> String? {
        let dotGit = (repository as NSString).appendingPathComponent(".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dotGit, isDirectory: &isDirectory) else { return nil }
        if isDirectory.boolValue { return dotGit }
        guard let text = try? String(contentsOfFile: dotGit, encoding: .utf8), text.hasPrefix("gitdir:") else {
            return nil
        }
        let target = text.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespacesAndNewlines)
        return resolve(target, from: repository)
    }

    /// The directory shared by every worktree of the repository (where `info/exclude` is read from):
    /// the git directory, or the folder its `commondir` file names.
    public static func commonDirectory(ofWorkingTree repository: String) -> String? {
        guard let gitDirectory = gitDirectory(ofWorkingTree: repository) else { return nil }
        let pointer = (gitDirectory as NSString).appendingPathComponent("commondir")
        guard let text = try? String(contentsOfFile: pointer, encoding: .utf8) else { return gitDirectory }
        let common = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return common.isEmpty ? gitDirectory : resolve(common, from: gitDirectory)
    }

    /// The bare repository that holds `path` (a folder with `HEAD`, `objects/` and `refs/` and no
    /// working tree around it), or nil.
    public static func bareRepository(containing path: String) -> String? {
        var directory = URL(fileURLWithPath: path).standardizedFileURL
        while true {
            let manager = FileManager.default
            if manager.fileExists(atPath: directory.appendingPathComponent(".git").path) { return nil }
            if manager.fileExists(atPath: directory.appendingPathComponent("HEAD").path),
                manager.fileExists(atPath: directory.appendingPathComponent("objects").path),
                manager.fileExists(atPath: directory.appendingPathComponent("refs").path)
            {
                return directory.path
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { return nil }
            directory = parent
        }
    }

    static func resolve(_ path: String, from base: String) -> String {
        let joined = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }
}

extension SluiceError {
    /// A file-system operation failed: one sentence with the path and the system's reason, never a
    /// Foundation error's dump.
    public static func fileSystem(_ action: String, _ path: String, _ error: any Error) -> SluiceError {
        SluiceError(
            code: .blocked, message: "cannot \(action) \(path): \(reason(error))", detail: String(describing: error))
    }

    /// The system's reason for a file-system error ("Not a directory", "Permission denied").
    static func reason(_ error: any Error) -> String {
        let error = error as NSError
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
        return error.localizedDescription
    }
}
