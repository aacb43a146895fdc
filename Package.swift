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
    ],
    targets: [
        // The C shim: CShim/cshim.c, with its header and module map in include/.
        .target(name: "CShim", path: ".", sources: ["CShim"], publicHeadersPath: "include"),
        .target(name: "ForkServer", dependencies: ["CShim"]),
        .executableTarget(name: "echo-server", dependencies: ["ForkServer"], linkerSettings: forkingProgram),
        .executableTarget(name: "peer-chat", dependencies: ["ForkServer"], linkerSettings: forkingProgram),
        .testTarget(name: "ForkServerTests", dependencies: ["ForkServer"]),
        // Runs the built programs as real processes over loopback.
        .testTarget(name: "IntegrationTests"),
    ]
)
