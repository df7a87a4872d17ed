import ArgumentParser
import Foundation
import Linalg
import Locus
import Tensors

struct NotebookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notebook", abstract: "Run markdown notebooks in notebooks-md/ and write their outputs back.",
        subcommands: [NotebookRun.self, NotebookCheckCommand.self])
}

struct NotebookRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run every ```locus block in order (one process, the model loaded once) and write outputs under each.")

    @Argument(help: "Notebook files.") var files: [String]
    @Option(help: "BLAS threads for every command (default: all cores, or the command's own --threads).") var threads: Int?

    func run() throws {
        if let threads { BLAS.threads = threads }
        var failed = false
        for file in files {
            let nb = try readNotebook(file)
            let (result, report) = NotebookRunner(executor: InProcessExecutor()).run(nb, path: file)
            var out = result
            setRuntime(&out, seconds: report.seconds, failed: report.failure != nil)
            try writeAtomically(out.markdown, to: file)
            if let f = report.failure {
                log("\(file): block \(f.block + 1) failed: \(f.message)")
                failed = true
            } else {
                log("\(file): \(report.blocksRun) blocks in \(String(format: "%.1f", report.seconds)) s")
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct NotebookCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Re-run a notebook without writing it and fail, with a diff, where outputs changed beyond the tolerance.",
        discussion: "Tolerance: front-matter keys check_absolute (default 1e-4) and check_relative (default 1e-3) for every number in the outputs.")

    @Argument(help: "Notebook files.") var files: [String]
    @Option(help: "BLAS threads for every command (default: all cores, or the command's own --threads).") var threads: Int?

    func run() throws {
        if let threads { BLAS.threads = threads }
        var bad = false
        for file in files {
            let nb = try readNotebook(file)
            let (rerun, report) = NotebookRunner(executor: InProcessExecutor()).run(nb, path: file)
            let check = NotebookCheck(
                absolute: Double(nb.value("check_absolute") ?? "") ?? 1e-4, relative: Double(nb.value("check_relative") ?? "") ?? 1e-3)
            let diffs = check.compare(stored: nb, rerun: rerun)
            if let f = report.failure { log("\(file): block \(f.block + 1) failed: \(f.message)") }
            if diffs.isEmpty && report.failure == nil {
                print("\(file): ok (\(report.blocksRun) blocks, \(String(format: "%.1f", report.seconds)) s)")
            } else {
                bad = true
                print("\(file): \(diffs.count) block(s) changed")
                for d in diffs { print(d.description) }
            }
        }
        if bad { throw ExitCode(1) }
    }
}

func readNotebook(_ file: String) throws -> Notebook {
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
        throw ValidationError("\(file): no such notebook (or not UTF-8 text)")
    }
    do { return try Notebook(markdown: text) } catch { throw ValidationError("\(file): \(error)") }
}

/// Records the run time in the front matter (`runtime:`), which `check` ignores.
func setRuntime(_ nb: inout Notebook, seconds: Double, failed: Bool) {
    let value = failed ? "failed" : String(format: "%.0f s", seconds.rounded(.up))
    guard case .text(let t)? = nb.segments.first, t.hasPrefix("---\n") else { return }
    var lines = t.components(separatedBy: "\n")
    if let i = lines.firstIndex(where: { $0.hasPrefix("runtime:") }) {
        lines[i] = "runtime: \(value)"
    } else if let end = lines.dropFirst().firstIndex(of: "---") {
        lines.insert("runtime: \(value)", at: end)
    }
    nb.segments[0] = .text(lines.joined(separator: "\n"))
}

/// Writes text to a temporary file beside `path` and renames it into place, so `path` holds either
/// the old text or the new, never part of it.
func writeAtomically(_ text: String, to path: String) throws {
    do { try AtomicFile.write(Data(text.utf8), to: path) } catch {
        throw ValidationError("\(error); the notebook is unchanged")
    }
}

/// Runs `locus` commands inside this process, capturing what they print.
struct InProcessExecutor: CommandExecutor {
    func execute(_ arguments: [String], defaultModel: String?, outputDirectory: String) throws -> CommandOutput {
        guard arguments.first != "notebook" else { throw ValidationError("a notebook cannot run notebooks") }
        var command: ParsableCommand
        if let m = defaultModel, !arguments.contains("--model"), let c = try? LocusCommand.parseAsRoot(arguments + ["--model", m]) {
            command = c
        } else {
            do { command = try LocusCommand.parseAsRoot(arguments) } catch {
                throw ValidationError(LocusCommand.fullMessage(for: error))
            }
        }
        let before = listFiles(outputDirectory)
        let text = try captureStandardOutput { try command.run() }
        let after = listFiles(outputDirectory)
        let new = after.filter { before[$0.key] != $0.value }.keys.filter { $0.hasSuffix(".svg") || $0.hasSuffix(".png") }.sorted()
        return CommandOutput(text: text, files: new)
    }

    func listFiles(_ dir: String) -> [String: Date] {
        var out: [String: Date] = [:]
        guard let e = FileManager.default.enumerator(atPath: dir) else { return out }
        while let f = e.nextObject() as? String {
            let p = dir + "/" + f
            if let d = try? FileManager.default.attributesOfItem(atPath: p)[.modificationDate] as? Date { out[p] = d }
        }
        return out
    }
}

/// Runs `body` with file descriptor 1 pointed at a temporary file, and returns what was written.
func captureStandardOutput(_ body: () throws -> Void) throws -> String {
    fflush(stdout)
    let tmp = NSTemporaryDirectory() + "locus-capture-\(getpid())-\(UUID().uuidString)"
    let fd = open(tmp, O_CREAT | O_TRUNC | O_RDWR, 0o600)
    guard fd >= 0 else { throw ValidationError("cannot capture output") }
    let saved = dup(1)
    dup2(fd, 1)
    var thrown: Error?
    do { try body() } catch { thrown = error }
    fflush(stdout)
    dup2(saved, 1)
    close(saved)
    close(fd)
    let text = (try? String(contentsOfFile: tmp, encoding: .utf8)) ?? ""
    unlink(tmp)
    if let thrown { throw thrown }
    return text
}
