import ArgumentParser
import SluiceCore

/// Prints records as JSON or as readable text, by the `--json` flag.
struct Output {
    let json: Bool

    init(_ options: GlobalOptions) {
        self.json = options.json
    }

    /// One record: its JSON, or the sentence.
    func record<T: Encodable>(_ value: T, _ sentence: @autoclosure () -> String) throws {
        Console.current.line(json ? try SluiceJSON.line(value) : sentence())
    }

    /// A list: JSON Lines, or a table with a header.
    func list<T: Encodable>(_ values: [T], empty: String, columns: [(String, (T) -> String)]) throws {
        if json {
            for value in values { Console.current.line(try SluiceJSON.line(value)) }
            return
        }
        guard !values.isEmpty else {
            Console.current.line(empty)
            return
        }
        // Cells hold what agents and gates wrote (model names, reasons, test names): on one line,
        // their control characters escaped, so that none passes for a row of ours or moves the cursor.
        let rows = values.map { value in columns.map { Console.printable($0.1(value)) } }
        let headers = columns.map(\.0)
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func render(_ cells: [String]) -> String {
            var line = ""
            for (index, cell) in cells.enumerated() {
                let isLast = index == cells.count - 1
                line += isLast ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }
            return line
        }
        Console.current.line(render(headers))
        for row in rows { Console.current.line(render(row)) }
    }

    /// Key–value lines for one record in readable form, each value on its line with its control
    /// characters escaped (see ``list(_:empty:columns:)``).
    static func fields(_ pairs: [(String, String?)]) -> String {
        let width = pairs.map(\.0.count).max() ?? 0
        return pairs.map { key, value in
            key + ":" + String(repeating: " ", count: width - key.count + 1) + (value.map(Console.printable) ?? "—")
        }.joined(separator: "\n")
    }
}

/// Signals that the operation ran and reports failure (exit code 1), after its output was printed.
func reportFailure() -> ExitCode { ExitCode(1) }
