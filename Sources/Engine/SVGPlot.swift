import Foundation

/// A small inline-SVG chart: axes with round ticks, step lines and bars. Reports embed it in HTML
/// so they stay one self-contained file with no scripts and no network.
public struct SVGPlot {
    public enum Style { case step, line, bars }

    public struct Series {
        public var name: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var style: Style
        /// Bars: the width of each bar in x units.
        public var barWidth: Double = 0
        public var opacity: Double = 1

        public init(name: String, color: String, points: [(x: Double, y: Double)], style: Style, barWidth: Double = 0, opacity: Double = 1) {
            self.name = name
            self.color = color
            self.points = points
            self.style = style
            self.barWidth = barWidth
            self.opacity = opacity
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var width = 560.0
    public var height = 320.0
    public var series: [Series] = []
    /// Axis ranges; nil = from the data.
    public var xRange: ClosedRange<Double>?
    public var yRange: ClosedRange<Double>?
    /// Vertical reference lines (e.g. a margin), with a label.
    public var markers: [(x: Double, label: String, color: String)] = []

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    static let margin = (left: 60.0, right: 16.0, top: 30.0, bottom: 46.0)

    /// Round tick values covering `range`, about `count` of them.
    static func ticks(_ range: ClosedRange<Double>, count: Int = 6) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = span / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var v = (range.lowerBound / step).rounded(.up) * step
        while v <= range.upperBound + step * 1e-9 {
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1000 { return String(format: "%.0f", v) }
        if abs(v) >= 1 { return String(format: v == v.rounded() ? "%.0f" : "%.1f", v) }
        return String(format: "%.3g", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The chart as an `<svg>` element.
    public func render() -> String {
        let all = series.flatMap(\.points)
        let xs = all.map(\.x) + markers.map(\.x)
        let halfBar = series.filter { $0.style == .bars }.map { $0.barWidth / 2 }.max() ?? 0
        var xr = xRange ?? ((xs.min() ?? 0) - halfBar)...((xs.max() ?? 1) + halfBar)
        if xr.upperBound <= xr.lowerBound { xr = (xr.lowerBound - 1)...(xr.upperBound + 1) }
        var yr = yRange ?? (min(0, all.map(\.y).min() ?? 0)...max(all.map(\.y).max() ?? 1, 1e-12) * 1.05)
        if yr.upperBound <= yr.lowerBound { yr = yr.lowerBound...(yr.lowerBound + 1) }
        let m = SVGPlot.margin
        let pw = width - m.left - m.right, ph = height - m.top - m.bottom
        func px(_ x: Double) -> Double { m.left + (x - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * pw }
        func py(_ y: Double) -> Double { m.top + ph - (y - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * ph }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#ffffff\"/>"
        s += "<text x=\"\(f(width / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(SVGPlot.escape(title))</text>"
        // Grid and ticks.
        for t in SVGPlot.ticks(xr) {
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(m.top))\" x2=\"\(f(px(t)))\" y2=\"\(f(m.top + ph))\" stroke=\"#e6e6e6\"/>"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(m.top + ph + 14))\" text-anchor=\"middle\">\(SVGPlot.label(t))</text>"
        }
        for t in SVGPlot.ticks(yr, count: 5) {
            s += "<line x1=\"\(f(m.left))\" y1=\"\(f(py(t)))\" x2=\"\(f(m.left + pw))\" y2=\"\(f(py(t)))\" stroke=\"#e6e6e6\"/>"
            s += "<text x=\"\(f(m.left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(SVGPlot.label(t))</text>"
        }
        s += "<rect x=\"\(f(m.left))\" y=\"\(f(m.top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#888\"/>"
        s += "<text x=\"\(f(m.left + pw / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(SVGPlot.escape(xLabel))</text>"
        s += "<text transform=\"translate(14 \(f(m.top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(SVGPlot.escape(yLabel))</text>"
        // Data, clipped to the plot area.
        let clip = "clip-" + String(title.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) && $0.isASCII }.map(Character.init))
        s += "<clipPath id=\"\(clip)\"><rect x=\"\(f(m.left))\" y=\"\(f(m.top))\" width=\"\(f(pw))\" height=\"\(f(ph))\"/></clipPath><g clip-path=\"url(#\(clip))\">"
        for series in self.series {
            switch series.style {
            case .bars:
                for p in series.points where p.y != 0 {
                    let x0 = px(p.x - series.barWidth / 2), x1 = px(p.x + series.barWidth / 2)
                    let y0 = py(max(p.y, 0)), y1 = py(min(p.y, 0))
                    s += "<rect x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(max(1, x1 - x0 - 1)))\" height=\"\(f(max(1, y1 - y0)))\" fill=\"\(series.color)\" fill-opacity=\"\(series.opacity)\"/>"
                }
            case .step, .line:
                guard let first = series.points.first else { continue }
                var d = "M\(f(px(first.x))),\(f(py(first.y)))"
                for p in series.points.dropFirst() {
                    d += series.style == .step ? "H\(f(px(p.x)))V\(f(py(p.y)))" : "L\(f(px(p.x))),\(f(py(p.y)))"
                }
                s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2.5\" stroke-opacity=\"\(series.opacity)\"/>"
            }
        }
        for mk in markers {
            s += "<line x1=\"\(f(px(mk.x)))\" y1=\"\(f(m.top))\" x2=\"\(f(px(mk.x)))\" y2=\"\(f(m.top + ph))\" stroke=\"\(mk.color)\" stroke-dasharray=\"5 4\" stroke-width=\"1.5\"/>"
            s += "<text x=\"\(f(px(mk.x) + 4))\" y=\"\(f(m.top + 12))\" fill=\"\(mk.color)\">\(SVGPlot.escape(mk.label))</text>"
        }
        s += "</g>"
        // Legend.
        var lx = m.left + 8
        for series in self.series where !series.name.isEmpty {
            s += "<rect x=\"\(f(lx))\" y=\"\(f(m.top + 6))\" width=\"12\" height=\"12\" fill=\"\(series.color)\"/>"
            s += "<text x=\"\(f(lx + 16))\" y=\"\(f(m.top + 16))\">\(SVGPlot.escape(series.name))</text>"
            lx += 24 + Double(series.name.count) * 6.5
        }
        s += "</svg>"
        return s
    }

    /// The empirical CDF of `values` as step points, at most `maxPoints` of them.
    public static func cdf(_ values: [Double], maxPoints: Int = 400) -> [(x: Double, y: Double)] {
        let s = values.sorted()
        guard !s.isEmpty else { return [] }
        let stride = max(1, s.count / maxPoints)
        var out: [(x: Double, y: Double)] = [(s[0], 0)]
        var i = stride - 1
        while i < s.count {
            out.append((s[i], Double(i + 1) / Double(s.count)))
            i += stride
        }
        if out.last!.y < 1 { out.append((s.last!, 1)) }
        return out
    }

    /// Counts of `values` in `bins` equal bins over `range`, as (bin centre, count).
    public static func histogram(_ values: [Double], range: ClosedRange<Double>, bins: Int) -> [(x: Double, y: Double)] {
        let width = (range.upperBound - range.lowerBound) / Double(bins)
        guard width > 0 else { return [(range.lowerBound, Double(values.count))] }
        var counts = [Double](repeating: 0, count: bins)
        for v in values where v.isFinite {
            let i = min(bins - 1, max(0, Int(((v - range.lowerBound) / width).rounded(.down))))
            counts[i] += 1
        }
        return counts.enumerated().map { (range.lowerBound + (Double($0.offset) + 0.5) * width, $0.element) }
    }
}
