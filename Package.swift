// swift-tools-version:6.0
import PackageDescription

// The programs that fork are linked fully static: no dynamic loader, no shared libraries, the
// fewest mappings for fork to copy (BENCHMARKS.md has the numbers). lld, because it does not
// repeat static glibc's warning about dlopen: the Swift runtime never calls it, but forkserver's
// name lookups (getaddrinfo, getnameinfo, getservbyname) do, through NSS, which then needs the
// running machine's glibc to be the one linked, as on the Debian machines this package targets.
// Linker/ lays the image out for fork: a child's code in one place, and read-only data, RELRO and
// the data nothing writes where fork(2) copies no page-table entry for them (each file says why).
// -z separate-loadable-segments starts each segment on a page of its own, so that the variables
// glibc's fork writes, which the order file puts first in .data, share one page whatever the size
// of the code before them (a .data that started 32 bytes before a page's end once split them: a
// fault more in every child).
let linkerFiles = Context.packageDirectory + "/Linker"
let forkingProgram: [LinkerSetting] = [.unsafeFlags([
    "-static-executable", "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "separate-loadable-segments",
    // A name in the order file that the image no longer has (renamed, or inlined away) is lld's
    // warning, made an error here: the layout cannot rot in silence.
    "-Xlinker", "--symbol-ordering-file=\(linkerFiles)/child-path.order", "-Xlinker", "--fatal-warnings",
    "-Xlinker", "-T", "-Xlinker", "\(linkerFiles)/unwritten-data.ld",
    "-Xlinker", "-T", "-Xlinker", "\(linkerFiles)/relro.ld",
    "-Xlinker", "-T", "-Xlinker", "\(linkerFiles)/text-window.ld",
])]

// The C reference programs are linked the same way, so that the comparison is of the code and
// the process image, not of the linking. -nostartfiles keeps the Swift driver from adding its
// startup object, which would drag the Swift runtime into a C program.
let plainC: [LinkerSetting] = [.unsafeFlags(["-nostartfiles", "-static-executable"])]

let package = Package(
    name: "ForkServer",
    products: [
        // The server, its system layer and sockets, and the PROXY protocol's parser under it; no
        // tcpserver in it: its programs' conventions are the UCSPI module's, for forkserver.
        .library(name: "ForkServer", targets: ["ForkServer", "ProxyProtocol"]),
        // TLS for the library's servers (TLSContext, for ServerConfiguration.security): a product
        // of its own, so that a server without TLS links no OpenSSL.
        .library(name: "ForkServerTLS", targets: ["TLS"]),
        .executable(name: "echo-server", targets: ["echo-server"]),
        .executable(name: "forkserver", targets: ["forkserver"]),
        .executable(name: "peer-chat", targets: ["peer-chat"]),
        .executable(name: "fork-bench", targets: ["fork-bench"]),
    ],
    targets: [
        // The C shim: CShim/, a file per subsystem, with its header and module map in include/.
        // The module is named for the package, so that it cannot collide with another package's
        // shim.
        .target(name: "CForkServer", path: ".", sources: ["CShim"], publicHeadersPath: "include"),
        // The PROXY protocol's header parser: pure, no system call, so that it builds and is
        // fuzzed alone (Fuzz/run-proxy-fuzzer).
        .target(name: "ProxyProtocol"),
        // The core: the system layer, sockets, the server, its handlers, limits and log.
        .target(name: "ForkServer", dependencies: ["CForkServer", "ProxyProtocol"]),
        // OpenSSL 3 from libssl-dev, through a module map: libssl and libcrypto, linked into the
        // static programs from libssl.a and libcrypto.a (docs/tls.md says why not dlopen).
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        // TLS per connection: the server's context, made before the first fork, and a
        // connection's session in its child. In a module of its own, so that the core, and
        // every program that does not serve TLS, stays free of OpenSSL.
        .target(name: "TLS", dependencies: ["CForkServer", "ForkServer", "COpenSSL"]),
        // The UCSPI conventions forkserver keeps: a program per connection and its environment,
        // tcprules' rules, tcpserver's log lines and D. J. Bernstein's error texts.
        .target(name: "UCSPI", dependencies: ["CForkServer", "ForkServer"]),
        // The programs' command lines (no product: a library user needs none of it).
        .target(name: "ServerCommandLine", dependencies: ["CForkServer", "ForkServer", "UCSPI"]),
        // The TLS options turned into the TLS module's configuration, for the two programs that
        // serve TLS (ServerCommandLine itself links no OpenSSL).
        .target(name: "TLSCommandLine", dependencies: ["ServerCommandLine", "TLS"]),
        .executableTarget(name: "echo-server", dependencies: ["ForkServer", "ServerCommandLine", "TLS", "TLSCommandLine"], linkerSettings: forkingProgram),
        // tcpserver's command line: any program per connection.
        .executableTarget(name: "forkserver", dependencies: ["ForkServer", "UCSPI", "ServerCommandLine", "TLS", "TLSCommandLine"], linkerSettings: forkingProgram),
        .executableTarget(name: "peer-chat", dependencies: ["ForkServer", "ServerCommandLine"], linkerSettings: forkingProgram),
        // The library's example in docs/library.md, built so that it cannot rot.
        .executableTarget(name: "upcase-server", dependencies: ["ForkServer"], linkerSettings: forkingProgram),
        .executableTarget(name: "fork-bench", dependencies: ["ForkServer", "CForkServer", "ServerCommandLine", "ProcessInspection", "COpenSSL"]),
        // Reads /proc: the process trees fork-bench measures and the integration tests check.
        .target(name: "ProcessInspection"),
        // The C reference for fork-bench: a minimal correct fork-per-connection echo server
        // (and, with --no-fork, the iterative server that is the ceiling; with --exec, the floor
        // under a server that runs a program per connection).
        .executableTarget(name: "c-echo-server", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: plainC),
        // The C floor under the TLS servers: fork, SSL_accept, then echo or relay to a program.
        // lld, as for the forking programs: static libcrypto references dlopen.
        .executableTarget(
            name: "c-tls-server", cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: plainC + [.unsafeFlags(["-use-ld=lld"]), .linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // The raw cost of fork+_exit+waitpid: in C, and in a Swift process built like echo-server.
        .executableTarget(name: "c-fork-probe", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: plainC),
        .executableTarget(name: "fork-probe", dependencies: ["ForkServer", "CForkServer", "ServerCommandLine"], linkerSettings: forkingProgram),
        // A program that runs a child of its own beside the server's, for the integration tests:
        // the server must leave that child to it.
        .executableTarget(name: "own-child-check", dependencies: ["ForkServer"]),
        // The server's wait against the signals that must end it, for the integration tests.
        .executableTarget(name: "signal-wait-check", dependencies: ["CForkServer"], linkerSettings: plainC),
        // The programs of other packages that tests run beside ours (tcpserver, HAProxy, ...):
        // a test that needs one is skipped where it is missing, and fails there under CI.
        .target(name: "TestPeers", path: "Tests/TestPeers"),
        .testTarget(name: "ForkServerTests", dependencies: ["ForkServer", "ProxyProtocol", "UCSPI", "ServerCommandLine", "TLS", "TestPeers"]),
        // Runs the built programs as real processes over loopback.
        .testTarget(name: "IntegrationTests", dependencies: ["ForkServer", "ProcessInspection", "TestPeers"]),
    ]
)
