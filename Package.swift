// swift-tools-version:6.0
import PackageDescription

// The programs that fork link the Swift runtime statically: a smaller, less relocated image
// forks faster (BENCHMARKS.md has the numbers).
let forkingProgram: [LinkerSetting] = [.unsafeFlags(["-static-stdlib"])]

let package = Package(
    name: "ForkServer",
    products: [
        .library(name: "ForkServer", targets: ["ForkServer"]),
        .executable(name: "echo-server", targets: ["echo-server"]),
        .executable(name: "peer-chat", targets: ["peer-chat"]),
        .executable(name: "fork-bench", targets: ["fork-bench"]),
    ],
    targets: [
        // The C shim: CShim/cshim.c, with its header and module map in include/.
        .target(name: "CShim", path: ".", sources: ["CShim"], publicHeadersPath: "include"),
        .target(name: "ForkServer", dependencies: ["CShim"]),
        .executableTarget(name: "echo-server", dependencies: ["ForkServer"], linkerSettings: forkingProgram),
        .executableTarget(name: "peer-chat", dependencies: ["ForkServer"], linkerSettings: forkingProgram),
        .executableTarget(name: "fork-bench", dependencies: ["ForkServer", "CShim"]),
        // The C reference for fork-bench: a minimal correct fork-per-connection echo server
        // (and, with --no-fork, the iterative server that is the ceiling).
        .executableTarget(name: "c-echo-server", cSettings: [.unsafeFlags(["-O2"])]),
        // The raw cost of fork+_exit+waitpid: in C, and in a Swift process built like echo-server.
        .executableTarget(name: "c-fork-probe", cSettings: [.unsafeFlags(["-O2"])]),
        .executableTarget(name: "fork-probe", dependencies: ["ForkServer", "CShim"], linkerSettings: forkingProgram),
        .testTarget(name: "ForkServerTests", dependencies: ["ForkServer"]),
        // Runs the built programs as real processes over loopback.
        .testTarget(name: "IntegrationTests"),
    ]
)
