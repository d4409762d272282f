import ArgumentParser
import Engine
import EvalCore
import Foundation
import GoldenSets
import Server

#if canImport(Glibc)
import Glibc
#endif

/// `evalengine fuzz`: a seeded mutation fuzzer for every parser that reads user input (golden sets
/// in JSONL/CSV/YAML, config YAML, TREC qrels and runs, traffic logs, service requests, prompt
/// templates, the JSON parser under them all). Each input is written to `--work/input.EXT` before it
/// is parsed, so when a parser crashes the process dies with the crashing input on disk;
/// `scripts/fuzz.sh` keeps it and turns the run red. Hidden: a tool for the test suite, not a stage.
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz", abstract: "Fuzz the input parsers with seeded mutations (reliability suite).", shouldDisplay: false)

    @Option(help: "Parser to fuzz: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")).")
    var target: String

    @Option(help: "Inputs to try.")
    var iterations: Int = 100_000

    @Option(help: "Seed of the mutations (the same seed replays the same inputs).")
    var seed: UInt64 = 1

    @Option(help: "Scratch directory (a tmpfs such as /dev/shm is fastest).")
    var work: String = NSTemporaryDirectory() + "evalengine-fuzz"

    @Option(help: "Parse this one file as the target's input and exit (replays a crash).")
    var replay: String?

    func validate() throws {
        guard iterations > 0 else { throw ValidationError("--iterations must be at least 1 (got \(iterations))") }
    }

    func run() throws {
        guard let t = FuzzTarget(rawValue: target) else {
            throw ValidationError("unknown target '\(target)' (\(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let dir = work + "/" + t.rawValue
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let harness = try FuzzHarness(target: t, dir: dir)
        if let replay {
            guard let data = FileManager.default.contents(atPath: replay) else {
                throw ValidationError("--replay \(replay): no such readable file")
            }
            let bytes = [UInt8](data)
            print("replay \(replay): \(harness.parse(bytes) ? "accepted" : "rejected")")
            return
        }
        var mutator = Mutator(seed: seed, seeds: t.seeds)
        var accepted = 0
        let clock = ContinuousClock()
        let start = clock.now
        for i in 1...iterations {
            let input = mutator.next()
            if harness.parse(input) {
                accepted += 1
                mutator.keep(input)
            }
            if i % 100_000 == 0 {
                let s = (clock.now - start).seconds
                print("fuzz \(t.rawValue): \(i) inputs, \(accepted) accepted, \(Int(Double(i) / s)) inputs/s")
                fflush(nil)
            }
        }
        let s = (clock.now - start).seconds
        print("fuzz \(t.rawValue): done, \(iterations) inputs (\(accepted) accepted, \(iterations - accepted) rejected with an error), "
            + "no crash, \(String(format: "%.1f", s)) s, \(Int(Double(iterations) / max(s, 1e-9))) inputs/s, seed \(seed)")
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

enum FuzzTarget: String, CaseIterable {
    case json, jsonl, csv, yamlGolden = "yaml-golden", yamlConfig = "yaml-config", qrels, run, traffic, request, template

    /// Valid inputs the mutations start from.
    var seeds: [String] {
        switch self {
        case .json, .request:
            return [
                #"{"golden_set":{"ref":"g.jsonl"},"prompt":{"ref":"p.yaml"},"endpoint":"sim","thresholds":{"min_pass_rate":0.9},"options":{"concurrency":4,"seed":7},"purpose":"gate"}"#,
                #"{"cases":{"ref":"g.jsonl"},"baseline":{"endpoint":"sim","prompt":{"ref":"p.yaml"}},"candidate":{"endpoint":"sim","prompt":{"ref":"p.yaml"}},"thresholds":{"margin":0.02},"sampling":{"rate":0.5,"max_cases":10}}"#,
                #"{"corpus":{"ref":"corpus.jsonl"},"queries":{"ref":"queries.jsonl"},"qrels":{"ref":"qrels.txt"},"baseline_config":{"ref":"rag.yaml"},"candidate_config":{"ref":"rag.yaml"},"thresholds":{"max_ndcg_drop":0.01}}"#,
                #"[1, -0.0, 1e308, "\u00e9\ud83d\ude00", true, false, null, {"a": [{}]}]"#,
            ]
        case .jsonl:
            return [
                #"{"id":"a1","vars":{"question":"What is 2 * 3?"},"expected":"6","assert":[{"type":"equals","metric":"accuracy"},{"type":"regex","value":"^\\d+$","weight":0.5}],"tags":["math"]}"# + "\n"
                    + #"{"vars":{"question":"Capital of France?"},"assert":[{"type":"icontains","value":"Paris"},{"type":"latency","threshold":5000,"weight":0}]}"# + "\n"
                    + #"{"id":"j","vars":{"question":"JSON please"},"assert":[{"type":"is-json"},{"type":"contains-json","value":{"type":"object","required":["name"]}},{"type":"levenshtein","value":"abc","threshold":2},{"type":"not-contains-any","value":["x","y"]}]}"# + "\n",
            ]
        case .csv:
            return ["question,expected,__expected,__description\n\"What is 2 * 3?\",6,equals:6,math\n\"Say \"\"hi\"\"\",hi,icontains:hi,\"multi\nline\"\n"]
        case .yamlGolden:
            return ["defaults:\n  assert:\n    - type: finish-reason\n      value: stop\ncases:\n  - id: a\n    vars: {question: \"What is 2 * 3?\"}\n    expected: \"6\"\n    assert:\n      - {type: equals, metric: accuracy}\n  - vars:\n      question: Capital of France?\n    assert: [{type: icontains, value: Paris}]\n"]
        case .yamlConfig:
            return [
                "messages:\n  - role: system\n    content: Be precise.\n  - role: user\n    content: \"{{question}}\"\nparams:\n  temperature: 0\n  max_tokens: 128\n  seed: 7\n  stop: [\"\\n\"]\n",
                "min_pass_rate: 0.9\nmin_metrics: {accuracy: 0.9}\nmax_error_rate: 0.01\nmax_p95_latency_ms: 2000\nmax_cost_usd: 1.5\nmin_scored_cases: 100\n",
                "endpoints:\n  - name: sim\n    base_url: http://127.0.0.1:18080\n    model: sim-small\n    requests_per_minute: 6000\n    max_in_flight: 64\n    timeout: 30s\n    pricing: {input_per_million: 0.15, output_per_million: 0.6}\n",
                "chunking: {strategy: tokens, size: 256, overlap: 32}\nembedding: {endpoint: sim-embed, model: sim-embed-small, dimensions: 256}\nretrieval: {k: 10}\n",
            ]
        case .qrels, .run:
            return self == .qrels ? ["q1 0 d1 1\nq1 0 d2 0\nq2 0 d3 2\n\nq3 0 d4 1\n"]
                : ["q1 Q0 d1 1 0.9 run\nq1 Q0 d2 2 0.5 run\nq2 Q0 d3 1 -1e3 run\n"]
        case .traffic:
            return [#"{"id":"t1","request":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0.3,"max_tokens":64},"response":{"content":"hello"},"tags":["chat"],"latency_ms":120}"#]
        case .template:
            return ["Answer {{question}} using {{ context.docs }} and {{ a.b.c }}.\n{{}} {{ unterminated", "{{x}}{{y}}{{x}}"]
        }
    }
}

/// Runs one input through the target's parser. Errors are the expected outcome for most inputs;
/// only a crash (a trap or a signal) is a finding.
final class FuzzHarness {
    let target: FuzzTarget
    let dir: String
    let inputPath: String
    let prompt: PromptConfig
    let config: ServiceConfig

    init(target: FuzzTarget, dir: String) throws {
        self.target = target
        self.dir = dir
        let ext: String
        switch target {
        case .json, .request, .traffic: ext = "json"
        case .jsonl: ext = "jsonl"
        case .csv: ext = "csv"
        case .yamlGolden, .yamlConfig: ext = "yaml"
        case .qrels, .run, .template: ext = "txt"
        }
        inputPath = dir + "/input." + ext
        // What a request's refs resolve to: small valid files in the scratch directory.
        let files: [String: String] = [
            "g.jsonl": FuzzTarget.jsonl.seeds[0],
            "p.yaml": "messages:\n  - role: user\n    content: \"{{question}}\"\n",
            "corpus.jsonl": #"{"id":"d1","text":"alpha beta"}"# + "\n" + #"{"id":"d2","text":"gamma"}"# + "\n",
            "queries.jsonl": #"{"id":"q1","text":"alpha"}"# + "\n",
            "qrels.txt": "q1 0 d1 1\n",
            "rag.yaml": FuzzTarget.yamlConfig.seeds[3],
        ]
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        try FuzzTarget.yamlConfig.seeds[0].write(toFile: dir + "/prompt.yaml", atomically: true, encoding: .utf8)
        prompt = try ConfigFiles.loadPrompt(path: dir + "/prompt.yaml")
        var c = ServiceConfig()
        c.dataDir = dir
        c.endpoints = [EndpointConfig(name: "sim", baseURL: "http://127.0.0.1:1", model: "sim-small"),
                       EndpointConfig(name: "sim-embed", baseURL: "http://127.0.0.1:1", model: "sim-embed-small")]
        config = c
    }

    /// Writes the input where a crash leaves it, then parses it; true when it was accepted.
    func parse(_ input: [UInt8]) -> Bool {
        save(input)
        do {
            switch target {
            case .json:
                _ = try JSONValue.parse(bytes: input)
            case .jsonl, .csv, .yamlGolden:
                _ = try EvalRunner.validate(goldenSetPath: inputPath, prompt: prompt)
            case .yamlConfig:
                var any = false
                if (try? ConfigFiles.loadPrompt(path: inputPath)) != nil { any = true }
                if (try? ConfigFiles.loadGate(path: inputPath)) != nil { any = true }
                if (try? ConfigFiles.loadShadowGate(path: inputPath)) != nil { any = true }
                if (try? ConfigFiles.loadEndpoints(path: inputPath)) != nil { any = true }
                if (try? RAGInputs.loadConfig(path: inputPath)) != nil { any = true }
                return any
            case .qrels:
                _ = try TrecFiles.readQrels(path: inputPath)
            case .run:
                _ = try TrecFiles.readRun(path: inputPath)
            case .traffic:
                _ = try TrafficFile.parse(input, line: 1, file: inputPath)
            case .request:
                var any = false
                for kind in StageKind.allCases where (try? StageRequest.decode(kind: kind, body: input, config: config)) != nil { any = true }
                return any
            case .template:
                let t = Template(String(decoding: input, as: UTF8.self))
                var vars: [String: JSONValue] = [:]
                for (i, name) in t.variableNames.enumerated() where i % 3 != 2 {  // leave some missing
                    vars[name] = i % 2 == 0 ? .string(name) : ["b": ["c": .number(Double(i))], "docs": [1, "two"]]
                }
                _ = try t.render(vars)
            }
            return true
        } catch {
            return false
        }
    }

    private func save(_ input: [UInt8]) {
        let fd = open(inputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { fatalError("fuzz: cannot write \(inputPath): errno \(errno)") }
        input.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = write(fd, p.baseAddress! + off, p.count - off)
                if n <= 0 { break }
                off += n
            }
        }
        close(fd)
    }
}

/// Byte-level mutations biased towards what breaks parsers: structure characters, escapes, huge
/// and odd numbers, invalid UTF-8, deep nesting, truncation, and splices of other inputs.
struct Mutator {
    var rng: SplitMix64
    var pool: [[UInt8]]
    let seedCount: Int
    static let tokens: [[UInt8]] = [
        "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "\\ud800", "\\u0000", "\n", "\r\n", "\t", " ", "#", "-", "---", "...",
        "&a", "*a", "!!binary", "? ", "|", ">", "%YAML 1.2\n", "'", "\"\"", "{{", "}}", "{{ . }}", "..",
        "1e309", "-1e309", "1e-400", "9223372036854775808", "-9223372036854775809", "18446744073709551616", "NaN", "Infinity", "-0", "0x1F", "1_000",
        "1e300", "4294967296", ".inf", ".nan", "null", "true", "~", "\u{7F}", "\u{202E}", "\u{FEFF}",
        "/etc/passwd", "../../", "http://169.254.169.254/", "file:///etc/passwd",
        "min_pass_rate", "concurrency", "max_cases", "k", "size", "overlap", "dimensions", "seed", "max_tokens", "threshold", "weight", "value", "type",
    ].map { Array($0.utf8) } + [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x00], [0xE2, 0x82]]

    init(seed: UInt64, seeds: [String]) {
        rng = SplitMix64(seed: seed)
        pool = seeds.map { Array($0.utf8) }
        seedCount = pool.count
    }

    /// Keeps an accepted input (up to a bound) so later mutations start from deeper valid shapes.
    mutating func keep(_ input: [UInt8]) {
        guard input.count <= 16 * 1024 else { return }  // big inputs slow every later iteration
        if pool.count < 512 { pool.append(input) } else { pool[seedCount + Int(rng.next() % UInt64(512 - seedCount))] = input }
    }

    mutating func int(_ n: Int) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }

    mutating func next() -> [UInt8] {
        var b = pool[int(pool.count)]
        for _ in 0...int(6) { mutate(&b) }
        if b.count > 64 * 1024 { b.removeLast(b.count - 64 * 1024) }
        return b
    }

    mutating func mutate(_ b: inout [UInt8]) {
        let at = int(b.count + 1)
        switch int(12) {
        case 0 where !b.isEmpty: b[int(b.count)] ^= UInt8(1 << int(8))
        case 1 where !b.isEmpty: b[int(b.count)] = UInt8(truncatingIfNeeded: rng.next())
        case 2, 3: b.insert(contentsOf: Mutator.tokens[int(Mutator.tokens.count)], at: at)
        case 4 where !b.isEmpty:
            let n = min(b.count - min(at, b.count), 1 + int(16))
            b.removeSubrange(min(at, b.count)..<(min(at, b.count) + n))
        case 5 where !b.isEmpty:
            let from = int(b.count)
            let len = min(b.count - from, 1 + int(64))
            b.insert(contentsOf: Array(b[from..<(from + len)]), at: at)
        case 6: b.removeLast(b.count - at)  // truncate
        case 7:  // deep nesting
            let open: [UInt8] = [[0x5B], [0x7B, 0x22, 0x61, 0x22, 0x3A], [0x2D, 0x20], [0x7B, 0x7B]][int(4)]
            let depth = [10, 100, 300, 1_000, 5_000][int(5)]  // past every depth limit (128 YAML, 256 JSON)
            var chunk: [UInt8] = []
            chunk.reserveCapacity(open.count * depth)
            for _ in 0..<depth { chunk += open }
            b.insert(contentsOf: chunk, at: at)
        case 8:  // splice with another input
            let other = pool[int(pool.count)]
            let from = int(other.count)
            b.insert(contentsOf: other[from..<min(other.count, from + 1 + int(128))], at: at)
        case 9:  // replace a digit run with an extreme number
            if let i = b.indices.dropFirst(int(b.count)).first(where: { b[$0] >= 0x30 && b[$0] <= 0x39 }) {
                var j = i
                while j < b.count, (b[j] >= 0x30 && b[j] <= 0x39) || b[j] == 0x2E { j += 1 }
                let numbers = ["1e309", "-1", "0", "99999999999999999999", "1e300", "-1e300", "4.9e-324", "2147483648", "1.5"]
                b.replaceSubrange(i..<j, with: Array(numbers[int(numbers.count)].utf8))
            }
        case 10:  // a long run of one byte
            b.insert(contentsOf: [UInt8](repeating: Mutator.tokens[int(Mutator.tokens.count)].first ?? 0x61, count: 1 + int(1024)), at: at)
        default:  // swap two ranges
            guard b.count > 4 else { return }
            let i = int(b.count / 2), j = b.count / 2 + int(b.count / 2)
            b.swapAt(i, j)
        }
    }
}
