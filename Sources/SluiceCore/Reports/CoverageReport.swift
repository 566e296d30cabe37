import Foundation

/// Reads line coverage from Cobertura XML or lcov tracefiles.
public enum CoverageReport {
    /// Line coverage in percent, 0–100.
    ///
    /// - Throws: ``ReportError`` when the bytes are neither format, or report no lines.
    public static func percent(_ bytes: [UInt8]) throws -> Double {
        let head = String(decoding: bytes.prefix(512), as: UTF8.self)
        if head.contains("<") { return try cobertura(bytes) }
        return try lcov(String(decoding: bytes, as: UTF8.self))
    }

    /// Cobertura: the root `<coverage>`'s `lines-covered`/`lines-valid`, else its `line-rate`.
    static func cobertura(_ bytes: [UInt8]) throws -> Double {
        try bytes.withUnsafeBufferPointer { buffer in
            var scanner = XMLScanner(buffer)
            while let token = try scanner.next() {
                guard case .start(let name, let attributes, _) = token, name == "coverage" else { continue }
                if let covered = attributes["lines-covered"].flatMap(Double.init),
                    let valid = attributes["lines-valid"].flatMap(Double.init), valid > 0
                {
                    return min(100, covered / valid * 100)
                }
                if let rate = attributes["line-rate"].flatMap(Double.init), rate.isFinite, (0...1).contains(rate) {
                    return rate * 100
                }
                throw ReportError("the Cobertura <coverage> element has no line counts or line-rate")
            }
            throw ReportError("not a Cobertura report: no <coverage> element")
        }
    }

    /// lcov: the sums of `LH:` (lines hit) over `LF:` (lines found) of every record.
    static func lcov(_ text: String) throws -> Double {
        var found = 0
        var hit = 0
        var records = 0
        for line in text.split(separator: "\n") {
            if line.hasPrefix("LF:") {
                found += Int(line.dropFirst(3).trimmingCharacters(in: .whitespaces)) ?? 0
                records += 1
            } else if line.hasPrefix("LH:") {
                hit += Int(line.dropFirst(3).trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        guard records > 0 else { throw ReportError("not an lcov tracefile: no LF: lines") }
        guard found > 0 else { throw ReportError("the lcov tracefile reports no instrumented lines") }
        return min(100, Double(hit) / Double(found) * 100)
    }
}
