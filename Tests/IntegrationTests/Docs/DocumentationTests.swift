import ForkServer
import Glibc
import ProcessInspection
import Testing

/// The documentation against the package: the Markdown's relative links lead to files and
/// headings that exist, the examples it shows are the code that is built, and the manual pages
/// list the options each program's `--help` lists, and contrib/install installs them where the
/// systemd units look. Nothing here needs man(1) or groff(1): the manual pages are read as the
/// roff source they are.
@Suite struct DocumentationTests {
    /// The package's root, from this file's path (Tests/IntegrationTests/Docs/...).
    static let packageRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        return parts.joined(separator: "/")
    }()

    /// README.md, BENCHMARKS.md and every Markdown file under docs/, relative to the root.
    static var markdownFiles: [String] {
        ["README.md", "BENCHMARKS.md"] + names(in: "\(packageRoot)/docs").filter { $0.hasSuffix(".md") }.map { "docs/\($0)" }
    }

    @Test func theReadmeStartsWithTheTwoCommandsANewcomerNeeds() throws {
        let lines = try Self.contents(of: "README.md").split(separator: "\n", omittingEmptySubsequences: false).prefix(6)
        #expect(lines.count == 6)
        #expect(lines[2] == "```sh")
        #expect(lines[3].hasPrefix("swift run -c release echo-server "))
        // .ci/run runs this command: the one the README gives.
        #expect(lines[4].hasPrefix("swift test "))
        #expect(lines[5] == "```")
        #expect(try Self.contents(of: ".ci/run").split(separator: "\n").contains("swift test"))
    }

    @Test func theReadmeIsAFrontDoorOfAtMost200Lines() throws {
        let lines = try Self.contents(of: "README.md").split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count <= 201, "\(lines.count) lines")
    }

    @Test func everyRelativeLinkInTheMarkdownLeadsToAFileAndHeadingThatExist() throws {
        let files = Self.markdownFiles
        #expect(files.contains("docs/forkserver.md"), "\(files)")
        var broken: [String] = []
        var checked = 0
        for file in files {
            let directory = file.split(separator: "/").dropLast().joined(separator: "/")
            for target in Markdown.links(in: try Self.contents(of: file)) {
                if target.contains("://") || target.hasPrefix("mailto:") {
                    continue
                }
                checked += 1
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                let path = parts[0].isEmpty ? file : Self.normalized(directory.isEmpty ? String(parts[0]) : "\(directory)/\(parts[0])")
                guard let path, Self.exists(path) else {
                    broken.append("\(file): \(target): no such file")
                    continue
                }
                guard parts.count == 2 else {
                    continue
                }
                guard path.hasSuffix(".md") else {
                    broken.append("\(file): \(target): an anchor into a file that is not Markdown")
                    continue
                }
                if !Markdown.anchors(in: try Self.contents(of: path)).contains(String(parts[1])) {
                    broken.append("\(file): \(target): no such heading in \(path)")
                }
            }
        }
        #expect(checked > 20, "only \(checked) links found")
        #expect(broken.isEmpty, "\(broken.joined(separator: "\n"))")
    }

    @Test func theLinkCheckerReadsLinksAndHeadingsAsGitHubDoes() {
        let text = """
            # Signals: echo-server and forkserver
            ## The loop waits in `accept(2)` (428a6e1)
            ## The seeds' pitfalls, and what the code does instead
            ## Options
            ## Options
            ```sh
            # not a heading [nor](a-link.md)
            ```
            See [the log](echo-server.md#the-log), `[code](not-a-link.md)` and [BENCHMARKS.md](../BENCHMARKS.md).
            """
        #expect(Markdown.links(in: text) == ["echo-server.md#the-log", "../BENCHMARKS.md"])
        #expect(Markdown.anchors(in: text) == [
            "signals-echo-server-and-forkserver", "the-loop-waits-in-accept2-428a6e1",
            "the-seeds-pitfalls-and-what-the-code-does-instead", "options", "options-1",
        ])
        #expect(Self.normalized("docs/../BENCHMARKS.md") == "BENCHMARKS.md")
        #expect(Self.normalized("../outside.md") == nil)
    }

    @Test func theLibraryPageShowsUpcaseServerAsItIsBuilt() throws {
        let page = try Self.contents(of: "docs/library.md")
        let example = try #require(Markdown.codeBlocks(in: page, language: "swift").first)
        let source = try Self.contents(of: "Sources/upcase-server/main.swift")
        #expect(source.hasSuffix(example), "docs/library.md's example differs from Sources/upcase-server/main.swift")
        // The README shows the handler alone: every line of it is a line of the program.
        let readme = try #require(Markdown.codeBlocks(in: try Self.contents(of: "README.md"), language: "swift").first)
        let sourceLines = Set(source.split(separator: "\n").map { $0.trimmingBlanks })
        let missing = readme.split(separator: "\n").map { $0.trimmingBlanks }.filter { !sourceLines.contains($0) }
        #expect(missing.isEmpty, "README lines not in Sources/upcase-server/main.swift: \(missing)")
    }

    // MARK: - Manual pages

    /// The programs with a manual page, each of which prints its options with `--help`.
    static let manualPages = ["echo-server", "forkserver", "peer-chat"]

    @Test(arguments: manualPages)
    func theManualPageListsTheOptionsHelpLists(program: String) throws {
        let help = try FinishedProgram.run("\(ServerProcess.buildDirectory)/\(program)", ["--help"])
        #expect(help.status == .exited(0))
        let fromHelp = Options.inHelp(help.outputText)
        let fromPage = Options.inManualPage(try Self.contents(of: "man/\(program).1"))
        #expect(fromHelp.contains("--help") && fromHelp.count > 3, "\(fromHelp)")
        #expect(fromHelp.subtracting(fromPage).isEmpty, "in --help, not in man/\(program).1: \(fromHelp.subtracting(fromPage).sorted())")
        #expect(fromPage.subtracting(fromHelp).isEmpty, "in man/\(program).1, not in --help: \(fromPage.subtracting(fromHelp).sorted())")
    }

    @Test func theOptionReadersFindEverySpellingOfAnOption() {
        let help = """
            options:
              -c N, --max-children N  at most N programs at once
              -v / -Q / -q            log every connection / errors only / nothing
              --proxy-from CIDR       a proxy whose headers are believed; with
                                      --proxy-protocol only
              -C N[:MSG], --max-per-source N[:MSG]
                                      at most N programs at once from one source
            """
        #expect(Options.inHelp(help) == ["-c", "--max-children", "-v", "-Q", "-q", "--proxy-from", "-C", "--max-per-source"])
        let page = #"""
            .SH DESCRIPTION
            .TP
            .B \-x
            not an option of this section
            .SH OPTIONS
            .TP
            .BI \-c " N\fR, \fP" \-\-max\-children " N"
            at most N programs at once; more wait, as with \fB\-\-backlog\fR.
            .TP
            .BR \-v " / " \-Q " / " \-q
            log every connection / errors only / nothing.
            .SS Limits per source
            .TP
            .BI \-C " N\fR[\fP:MSG\fR], \fP" \-\-max\-per\-source " N\fR[\fP:MSG\fR]\fP"
            at most N.
            .SH SIGNALS
            .TP
            .B \-\-not\-an\-option
            """#
        #expect(Options.inManualPage(page) == ["-c", "--max-children", "-v", "-Q", "-q", "-C", "--max-per-source"])
    }

    // MARK: - contrib/install

    /// Runs contrib/install with the programs the tests use, `environment` (NAME=value) set and
    /// PREFIX, DESTDIR and BINDIR_FROM otherwise unset; returns what it wrote on standard output.
    static func install(into destination: TemporaryDirectory, _ environment: [String] = []) throws -> String {
        let unset = ["PREFIX", "DESTDIR", "BINDIR_FROM"].flatMap { ["-u", $0] }
        let result = try FinishedProgram.run("/usr/bin/env", unset + ["DESTDIR=\(destination.path)"] + environment + [
            "/bin/bash", "\(packageRoot)/contrib/install", "--from", ServerProcess.buildDirectory,
        ])
        #expect(result.status == .exited(0), "contrib/install ended with \(result.status)")
        return result.outputText
    }

    @Test func theInstallScriptPutsTheProgramsAndManualPagesUnderDestdirAndPrefix() throws {
        let destination = try TemporaryDirectory()
        let output = try Self.install(into: destination, ["PREFIX=/opt/forkserver"])
        let root = "\(destination.path)/opt/forkserver"
        #expect(Self.names(in: "\(root)/bin") == ["echo-server", "forkserver", "peer-chat"])
        #expect(Self.names(in: "\(root)/share/man/man1") == ["echo-server.1", "forkserver.1", "peer-chat.1"])
        for program in Self.manualPages {
            #expect(access("\(root)/bin/\(program)", X_OK) == 0, "\(program)")
            #expect(Self.size(of: "\(root)/bin/\(program)") == Self.size(of: "\(ServerProcess.buildDirectory)/\(program)"), "\(program)")
            let source = try Self.contents(of: "man/\(program).1")
            #expect(ProcessTable.readFile("\(root)/share/man/man1/\(program).1") == source, "\(program).1")
            #expect(output.contains("\(root)/bin/\(program)\n"), "\(output)")
        }
        let help = try FinishedProgram.run("\(root)/bin/forkserver", ["--help"])
        #expect(help.status == .exited(0))
    }

    @Test func theSystemdUnitsStartTheProgramsWhereTheInstallScriptPutsThem() throws {
        let destination = try TemporaryDirectory()
        _ = try Self.install(into: destination)
        var programs: [String] = []
        for unit in SystemdUnitTests.units {
            let text = try Self.contents(of: "contrib/systemd/\(unit)")
            for line in text.split(separator: "\n") where line.hasPrefix("ExecStart=") {
                let program = String(line.dropFirst("ExecStart=".count).split(separator: " ")[0])
                programs.append(program)
                #expect(access("\(destination.path)\(program)", X_OK) == 0, "\(unit): \(program) is not where contrib/install puts it")
            }
        }
        #expect(Set(programs) == ["/usr/local/bin/echo-server", "/usr/local/bin/forkserver"])
    }

    @Test func theInstallScriptInstallsNothingWithoutTheBuiltPrograms() throws {
        let destination = try TemporaryDirectory()
        let result = try FinishedProgram.run("/usr/bin/env", [
            "-u", "PREFIX", "-u", "BINDIR_FROM", "DESTDIR=\(destination.path)",
            "/bin/bash", "\(Self.packageRoot)/contrib/install", "--from", "\(destination.path)/nothing-built-here",
        ])
        #expect(result.status == .exited(1))
        #expect(Self.names(in: destination.path).isEmpty)
    }

    // MARK: - Files

    static func contents(of path: String) throws -> String {
        guard let text = ProcessTable.readFile("\(packageRoot)/\(path)") else {
            throw TestFailure.system("open \(packageRoot)/\(path)")
        }
        return text
    }

    /// The size of the file at `path` (absolute), or nil.
    static func size(of path: String) -> Int? {
        var status = stat()
        return stat(path, &status) == 0 ? Int(status.st_size) : nil
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return stat("\(packageRoot)/\(path)", &status) == 0
    }

    /// The names in `directory`, sorted, without `.` and `..`.
    static func names(in directory: String) -> [String] {
        guard let stream = opendir(directory) else {
            return []
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." {
                names.append(name)
            }
        }
        return names.sorted()
    }

    /// `path` with its `.` and `..` components resolved; nil when it leaves the package.
    static func normalized(_ path: String) -> String? {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".":
                continue
            case "..":
                guard parts.popLast() != nil else {
                    return nil
                }
            default:
                parts.append(part)
            }
        }
        return parts.joined(separator: "/")
    }
}

/// What the tests read of Markdown: inline links, headings as GitHub anchors them, and fenced
/// code blocks. Code (fenced blocks and `spans`) holds neither links nor headings.
enum Markdown {
    /// The targets of the inline links `[text](target)`, in order.
    static func links(in text: String) -> [String] {
        var targets: [String] = []
        for line in prose(text) {
            let characters = Array(withoutCodeSpans(line))
            var index = 0
            while index + 1 < characters.count {
                if characters[index] == "]" && characters[index + 1] == "(" {
                    guard let close = characters[(index + 2)...].firstIndex(of: ")") else {
                        break
                    }
                    targets.append(String(characters[(index + 2)..<close]))
                    index = close
                }
                index += 1
            }
        }
        return targets
    }

    /// The anchors GitHub gives the headings: lowercased, letters, digits, `-` and `_` kept,
    /// spaces made `-`, the rest dropped; a repeated one gets `-1`, `-2`, ...
    static func anchors(in text: String) -> [String] {
        var anchors: [String] = []
        var seen: [String: Int] = [:]
        for line in prose(text) where line.hasPrefix("#") {
            let title = line.drop { $0 == "#" }
            guard title.first == " " else {
                continue
            }
            var slug = ""
            for character in title.trimmingBlanks.lowercased() {
                if character == " " {
                    slug.append("-")
                } else if character.isLetter || character.isNumber || character == "-" || character == "_" {
                    slug.append(character)
                }
            }
            let count = seen[slug, default: 0]
            seen[slug] = count + 1
            anchors.append(count == 0 ? slug : "\(slug)-\(count)")
        }
        return anchors
    }

    /// The contents of the fenced code blocks marked `language`.
    static func codeBlocks(in text: String, language: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        var fenced = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                if fenced, let lines = current {
                    blocks.append(lines.map { "\($0)\n" }.joined())
                }
                current = !fenced && line.dropFirst(3) == language ? [] : nil
                fenced.toggle()
            } else if fenced {
                current?.append(line)
            }
        }
        return blocks
    }

    /// The lines outside fenced code blocks.
    private static func prose(_ text: String) -> [Substring] {
        var lines: [Substring] = []
        var fenced = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingBlanks.hasPrefix("```") {
                fenced.toggle()
            } else if !fenced {
                lines.append(line)
            }
        }
        return lines
    }

    /// `line` without its code spans (`...`).
    private static func withoutCodeSpans(_ line: Substring) -> String {
        var result = ""
        var inCode = false
        for character in line {
            if character == "`" {
                inCode.toggle()
            } else if !inCode {
                result.append(character)
            }
        }
        return result
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmingBlanks: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !blank($0) }), let end = lastIndex(where: { !blank($0) }) else {
            return ""
        }
        return String(self[start...end])
    }
}

/// The options a program documents: the spellings in its `--help` and in its manual page.
enum Options {
    /// The options of a usage text: on each line that starts with two spaces and a `-`, the
    /// words that start with `-` before the description's column (two spaces or more).
    static func inHelp(_ text: String) -> Set<String> {
        var options = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("  -") {
            let spelling = line.dropFirst(2).split(separator: "  ", maxSplits: 1)[0]
            options.formUnion(words(in: String(spelling)))
        }
        return options
    }

    /// The options of a manual page: the words that start with `-` in the tag line of each
    /// `.TP` entry of the OPTIONS section (up to the next `.SH`, through its `.SS` parts).
    static func inManualPage(_ roff: String) -> Set<String> {
        var options = Set<String>()
        var inOptions = false
        var tagFollows = false
        for line in roff.split(separator: "\n") {
            if line.hasPrefix(".SH") {
                inOptions = line.dropFirst(3).trimmingBlanks == "OPTIONS"
            } else if inOptions && line.hasPrefix(".TP") {
                tagFollows = true
            } else if tagFollows {
                tagFollows = false
                options.formUnion(words(in: plainText(line)))
            }
        }
        return options
    }

    /// A roff line without its macro name, quotes and font changes, with `\-` as `-`.
    private static func plainText(_ line: Substring) -> String {
        var text = line.hasPrefix(".") ? String(line.drop { $0 != " " }) : String(line)
        for font in ["\\fB", "\\fI", "\\fR", "\\fP"] {
            text = text.split(separator: font, omittingEmptySubsequences: false).joined(separator: " ")
        }
        return text.split(separator: "\\-", omittingEmptySubsequences: false).joined(separator: "-")
            .filter { $0 != "\"" }
    }

    /// The words of `text` that start with `-` (and are more than a `-`), split at blanks and at
    /// the punctuation between spellings: `,`, `/`, `[`, `]`.
    private static func words(in text: String) -> [String] {
        text.split { " \t,/[]".contains($0) }.map(String.init).filter { $0.hasPrefix("-") && $0.count > 1 }
    }
}
