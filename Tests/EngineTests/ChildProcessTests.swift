import Foundation
import Spawn
import Testing

/// The spawner every child process goes through (scorers, and the tests' servers and CLIs).
@Suite struct ChildProcessTests {
    let dir: String = {
        let d = NSTemporaryDirectory() + "spawn-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    func read(_ name: String) -> String { (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "" }

    @Test func exitCodesSignalsDirectoryAndEnvironment() async throws {
        let ok = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "pwd; echo \"$GREETING\"; exit 3"], environment: ["GREETING": "hello there"],
                                  directory: dir, stdout: .file(dir + "/out"))
        ok.waitUntilExit()
        #expect(ok.terminationStatus == 3 && ok.terminationReason == .exit)
        let realDir = URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
        #expect(read("out") == "\(realDir)\nhello there\n" || read("out") == "\(dir)\nhello there\n", "\(read("out"))")

        let sleeper = try ChildProcess(executable: "/bin/sleep", arguments: ["30"])
        #expect(sleeper.isRunning)
        sleeper.terminate()
        let status = await sleeper.exit(within: 10)
        #expect(status == SIGTERM && sleeper.terminationReason == .uncaughtSignal)
        sleeper.send(SIGKILL)  // reaped: a no-op, never a signal to whoever has the pid now

        #expect(throws: SpawnError.self) { try ChildProcess(executable: dir + "/missing") }
    }

    /// Foundation's Process.run read past a buffer once ~1,350 descriptors were open (and could
    /// crash the process). With 1,500 more open, children start, see only 0, 1 and 2 of ours, and
    /// have SIGPIPE at its default action (this process ignores it).
    @Test func manyOpenDescriptorsAreNeitherScannedNorInherited() async throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let wanted = rlim_t(16_384)
        if limit.rlim_cur < wanted && limit.rlim_max > limit.rlim_cur {
            limit.rlim_cur = min(wanted, limit.rlim_max)
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        try #require(limit.rlim_cur >= 4096, "the descriptor limit is too low to test this")
        let extra = (0..<1500).map { _ in open("/dev/null", O_RDONLY) }
        defer { for fd in extra where fd >= 0 { close(fd) } }
        #expect(extra.allSatisfy { $0 >= 0 })
        for i in 0..<20 {
            let p = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "ls /proc/self/fd | wc -l; grep SigIgn /proc/self/status"], stdout: .file(dir + "/fds\(i)"))
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        let lines = read("fds0").split(separator: "\n")
        // 0, 1, 2 and the one `ls` opens to read the directory.
        #expect(Int(lines.first?.trimmingCharacters(in: .whitespaces) ?? "") ?? 99 <= 4, "\(lines)")
        // SIGPIPE, SIGINT and SIGTERM not ignored (bit n-1 of SigIgn for signal n).
        let ignored = UInt64(lines.last?.split(separator: "\t").last ?? "", radix: 16) ?? .max
        for signal in [SIGPIPE, SIGINT, SIGTERM] { #expect(ignored & (1 << UInt64(signal - 1)) == 0, "\(lines)") }
    }

    @Test func aPipeCarriesTheChildsOutput() throws {
        let (r, w) = try ChildProcess.pipe()
        let p = try ChildProcess(executable: "/bin/echo", arguments: ["through the pipe"], stdout: .descriptor(w))
        close(w)
        let handle = FileHandle(fileDescriptor: r, closeOnDealloc: true)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(text == "through the pipe\n" && p.terminationStatus == 0)
    }
}
