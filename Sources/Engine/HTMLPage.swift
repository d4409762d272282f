import EvalCore
import Foundation

/// The frame of every HTML page evalengine writes (the eval report, the service's web view): one
/// self-contained document with inline CSS, no scripts, no external assets. Everything that comes
/// from data — outputs, ids, reasons, file names — goes through `escape`.
public enum HTMLPage {
    public static let passColor = "#2ca02c"
    public static let failColor = "#d62728"
    public static let inconclusiveColor = "#ff9900"
    public static let neutralColor = "#7f7f7f"

    /// Text for an element's content or a quoted attribute value (the JUnit writer's escaping:
    /// `& < > " '` as entities, characters no document may carry dropped).
    public static func escape(_ s: String) -> String { xmlEscape(s) }

    /// A path segment for a link (ids are ours, but they are data all the same).
    public static func segment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? ""
    }

    public static func color(ofVerdict v: String?) -> String {
        switch v {
        case "pass", "completed", "Succeeded": return passColor
        case "fail", "errored", "error", "Failed": return failColor
        case "inconclusive", "cancelled": return inconclusiveColor
        default: return neutralColor
        }
    }

    /// A coloured verdict (or state) label.
    public static func badge(_ text: String?) -> String {
        let t = text ?? "pending"
        return "<span class=\"badge\" style=\"background:\(color(ofVerdict: t))\">\(escape(t.uppercased()))</span>"
    }

    /// A table: `header` cells, then rows of cells that are already HTML.
    public static func table(_ header: [String], _ rows: [[String]], cssClass: String = "") -> String {
        var h = "<table class=\"\(cssClass)\">"
        if header.contains(where: { !$0.isEmpty }) { h += "<thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead>" }
        h += "<tbody>"
        for r in rows { h += "<tr>" + r.map { "<td>\($0)</td>" }.joined() + "</tr>" }
        return h + "</tbody></table>"
    }

    public static func number(_ v: Double?, _ digits: Int = 3) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%.\(digits)f", v)
    }

    public static func percent(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%.1f%%", v * 100)
    }

    /// A scalar of a report as text (numbers rounded for reading).
    public static func text(_ v: JSONValue?) -> String {
        switch v {
        case .none, .some(.null): return "–"
        case .some(.number(let n)): return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(format: "%.4g", n)
        case .some(.string(let s)): return s
        case .some(.bool(let b)): return b ? "yes" : "no"
        case .some(let other): return other.serialized(sortedKeys: true)
        }
    }

    static let css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f23;background:#fff}
        header{background:#24292e;color:#fff;padding:10px 24px;display:flex;gap:20px;align-items:center}
        header a{color:#fff;text-decoration:none;font-weight:600}
        main{padding:16px 24px;max-width:1400px}
        h1{font-size:22px;margin:8px 0 4px} h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #e1e4e8;padding-bottom:4px}
        table{border-collapse:collapse;margin:6px 0 12px;font-size:13px} th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
        th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
        pre{white-space:pre-wrap;word-break:break-word;margin:0;max-width:640px;font-size:12px;background:#f6f8fa;padding:4px}
        .badge{color:#fff;border-radius:4px;padding:2px 8px;font-size:12px;font-weight:700;letter-spacing:.03em}
        .muted{color:#57606a} .reason{color:#cf222e} a{color:#0969da}
        .plots{display:flex;flex-wrap:wrap;gap:16px} svg{background:#fff;border:1px solid #e1e4e8}
        """

    /// The whole document. `nav`: the service's links (left out of a file written offline).
    public static func document(title: String, body: String, nav: Bool) -> String {
        let links = nav ? "<a href=\"/ui\">evalengine</a><a href=\"/ui\">jobs</a><a href=\"/ui/test-suites\">test suites</a><a href=\"/docs\">docs</a>"
            : "<span style=\"font-weight:600\">evalengine</span>"
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title><style>\(css)</style></head>
            <body><header>\(links)</header><main>
            \(body)
            </main></body></html>

            """
    }
}
