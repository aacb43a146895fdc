import Glibc
import ProcessInspection
import Testing

/// Linker/relro.ld's layout, as a running server has it. fork(2) copies the page-table entries of
/// a private mapping only if some page of it was ever written, and skips the others; RELRO (30-odd
/// pages of echo-server's) is skipped only while it holds no written page and no mapping adjoins
/// its end (at exec the kernel maps RELRO together with an adjoining mapping of the same file and
/// protection, and the first write to that one marks both). A glibc that writes another of its
/// variables there at start-up, or a linker that lays RELRO out otherwise, fails this test
/// rather than costing every fork those pages in silence.
@Suite struct ImageLayoutTests {
    @Test func forkSkipsRelro() throws {
        let server = try ServerProcess.startEchoServer(["--quiet"])
        for _ in 0..<3 {
            let client = try TestClient(port: server.port)
            #expect(try client.roundTrip("fork\n") == "fork\n")
            client.close()
        }
        let executable = try #require(readLink("/proc/\(server.pid)/exe"))
        let mappings = ProcessTable.mappings(of: server.pid)
        let image = mappings.filter { $0.path == executable }
        // The image's mappings, in address order: read-only data, code, RELRO, the data.
        let code = try #require(image.firstIndex { $0.permissions.hasPrefix("r-x") })
        let relro = try #require(image[(code + 1)...].first, "no mapping after the code: \(image)")
        #expect(relro.permissions.hasPrefix("r--"), "not RELRO: \(relro)")
        #expect(relro.anonymousKiB == 0, "RELRO holds written pages: \(relro)")
        let neighbour = mappings.first { $0.start == relro.end }
        #expect(neighbour == nil, "\(neighbour.map { "\($0)" } ?? "") adjoins RELRO, \(relro)")
    }

    /// A `String` separator (`split(separator: " - ")`) or a regex links the standard library's
    /// string-processing module into a program, and with it its code and data into every
    /// process the server forks; the forking programs split on characters only. The check reads
    /// the image for the module's mangled name, which any of its symbols carries.
    @Test(arguments: ["echo-server", "forkserver"])
    func theForkingProgramsLinkNoStringProcessing(program: String) throws {
        let fd = open("\(ServerProcess.buildDirectory)/\(program)", O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var image: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while case let count = read(fd, &chunk, chunk.count), count > 0 {
            image += chunk[..<count]
        }
        let name = Array("17_StringProcessing".utf8)
        let found = image.withUnsafeBufferPointer { bytes in
            bytes.indices.dropLast(name.count).contains { start in
                bytes[start] == name[0] && bytes[start..<start + name.count].elementsEqual(name)
            }
        }
        #expect(!found, "\(program) links _StringProcessing")
    }

    private func readLink(_ path: String) -> String? {
        var target = [CChar](repeating: 0, count: 4096)
        let length = readlink(path, &target, target.count - 1)
        guard length > 0 else {
            return nil
        }
        return String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
