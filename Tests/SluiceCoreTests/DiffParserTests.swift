import SluiceCore
import Testing

@Suite("Diff parser")
struct DiffParserTests {
    @Test("a modification with git's headers")
    func modification() throws {
        let diff = try DiffParser.parse(
            """
            diff --git a/src/calc.py b/src/calc.py
            index 3b18e51..a2c4f0e 100644
            --- a/src/calc.py
            +++ b/src/calc.py
            @@ -1,3 +1,4 @@ def add(a, b):
             def add(a, b):
            -    return a - b
            +    return a + b
            +
             # end

            """)
        #expect(diff.files.count == 1)
        let file = diff.files[0]
        #expect(file.oldPath == "src/calc.py" && file.newPath == "src/calc.py")
        #expect(file.change == .modified)
        #expect(
            file.hunks == [Hunk(oldStart: 1, oldCount: 3, newStart: 1, newCount: 4, addedLines: 2, removedLines: 1)])
        #expect(diff.changedLines == 3)
    }

    @Test("new, deleted, renamed and mode-changed files")
    func headers() throws {
        let diff = try DiffParser.parse(
            """
            diff --git a/new.txt b/new.txt
            new file mode 100644
            index 0000000..e69de29
            --- /dev/null
            +++ b/new.txt
            @@ -0,0 +1 @@
            +hello
            diff --git a/old.txt b/old.txt
            deleted file mode 100644
            index e69de29..0000000
            --- a/old.txt
            +++ /dev/null
            @@ -1 +0,0 @@
            -bye
            diff --git a/a b.txt b/c d.txt
            similarity index 100%
            rename from a b.txt
            rename to c d.txt
            diff --git a/run.sh b/run.sh
            old mode 100644
            new mode 100755

            """)
        #expect(diff.files.map(\.change) == [.added, .deleted, .renamed, .modified])
        #expect(diff.files[0].oldPath == nil && diff.files[0].newPath == "new.txt" && diff.files[0].newMode == "100644")
        #expect(diff.files[1].newPath == nil && diff.files[1].oldPath == "old.txt")
        #expect(diff.files[2].oldPath == "a b.txt" && diff.files[2].newPath == "c d.txt")
        #expect(diff.files[2].paths == ["a b.txt", "c d.txt"])
        #expect(diff.files[3].oldMode == "100644" && diff.files[3].newMode == "100755")
    }

    @Test("binary markers and quoted paths")
    func binaryAndQuoted() throws {
        let diff = try DiffParser.parse(
            """
            diff --git a/logo.png b/logo.png
            index 1234567..89abcde 100644
            Binary files a/logo.png and b/logo.png differ
            diff --git "a/tab\\there.txt" "b/tab\\there.txt"
            index 1234567..89abcde 100644
            --- "a/tab\\there.txt"
            +++ "b/tab\\there.txt"
            @@ -1 +1 @@
            -x
            +y

            """)
        #expect(diff.files[0].isBinary)
        #expect(diff.files[1].path == "tab\there.txt")
        #expect(!diff.files[1].isBinary)
    }

    @Test("\\ No newline at end of file belongs to the hunk")
    func noNewline() throws {
        let diff = try DiffParser.parse(
            """
            --- a/f
            +++ b/f
            @@ -1 +1 @@
            -old
            \\ No newline at end of file
            +new
            \\ No newline at end of file

            """)
        #expect(diff.files[0].hunks[0].addedLines == 1 && diff.files[0].hunks[0].removedLines == 1)
    }

    @Test("plain diff -u output with timestamps")
    func plainDiff() throws {
        let diff = try DiffParser.parse(
            "--- old/notes.txt\t2026-11-26 07:00:00.000000000 +0000\n+++ new/notes.txt\t2026-11-26 07:01:00.000000000 +0000\n"
                + "@@ -1,2 +1,2 @@\n one\n-two\n+three\n")
        #expect(diff.files[0].oldPath == "notes.txt" && diff.files[0].newPath == "notes.txt")
        #expect(diff.files[0].hunks[0].addedLines == 1)
    }

    @Test(
        "malformed input is refused with the line",
        arguments: [
            ("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-x\n+y\n", "ends early"),
            ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+y\n+z\n", "more lines"),
            ("--- a/f\n+++ b/f\n@@ -1 +1 @\n-x\n+y\n", "malformed hunk header"),
            ("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-x\ngarbage\n", "fewer lines"),
            ("@@ -1 +1 @@\n-x\n+y\n", "before any file header"),
            ("just some text\n", "no file changes"),
            ("", "no file changes"),
        ])
    func malformed(text: String, message: String) {
        #expect {
            try DiffParser.parse(text)
        } throws: { error in
            (error as? DiffError)?.message.contains(message) == true
        }
    }

    @Test("a format-patch signature after the last hunk is not a hunk line")
    func signature() throws {
        let diff = try DiffParser.parse(
            "From abc Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\n---\n f | 2 +-\n\n"
                + "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+y\n-- \n2.39.5\n")
        #expect(diff.files.count == 1)
    }
}
