// Entry point shared by every tool: one-line errors for bad flags, exit codes, signal handling.
import ArgumentParser
import Foundation
@_exported import DFKCore

public enum ToolMain {
    /// Parses the command line and runs the command. Usage errors print one line to stderr
    /// ("TOOL: error: MESSAGE (see TOOL --help)") and exit 64; --help prints the full help to stdout.
    public static func run<C: ParsableCommand>(_ type: C.Type) -> Never {
        let name = C.configuration.commandName ?? String(describing: C.self)
        Diagnostics.toolName = name
        Cancellation.install()
        var command: any ParsableCommand
        do {
            // As root: a command with subcommands (`records split-faces`) runs the one named.
            command = try C.parseAsRoot(Array(CommandLine.arguments.dropFirst()))
        } catch {
            let code = C.exitCode(for: error)
            if code == .success {
                print(C.fullMessage(for: error))
                exit(0)
            }
            let msg = oneLine(C.message(for: error))
            Diagnostics.line("\(name): error: \(msg) (see \(name) --help)")
            exit(64)
        }
        do {
            try command.run()
        } catch _ where Cancellation.isRequested {
            // Any error after a signal (Cancelled from a safe point, or one wrapped by the tool) ends as a signal.
            Cancellation.terminate(signal: Cancellation.receivedSignal!)
        } catch let e as ExitCode {
            exit(e.rawValue)
        } catch let e as ValidationError {
            Diagnostics.line("\(name): error: \(e.message) (see \(name) --help)")
            exit(64)
        } catch where C.exitCode(for: error) == .success {
            // `--help` in a command with subcommands: ArgumentParser's help command "runs" by throwing it.
            print(C.fullMessage(for: error))
            exit(0)
        } catch {
            Diagnostics.line("\(name): error: \(Diagnostics.describe(error))")
            exit(1)
        }
        if let sig = Cancellation.receivedSignal { Cancellation.terminate(signal: sig) }
        do { try StandardOutput.flush() } catch {
            Diagnostics.line("\(name): error: \(Diagnostics.describe(error))")
            exit(1)
        }
        exit(Diagnostics.failures > 0 ? 1 : 0)
    }
}

/// ArgumentParser's message as one line: its first line, with a bulleted list of valid values ("Please provide
/// one of the following:" then "  - value" lines) folded in as "a, b, c".
func oneLine(_ message: String) -> String {
    let lines = message.split(separator: "\n").map(String.init)
    guard let first = lines.first else { return message }
    let bullets = lines.dropFirst().prefix { $0.hasPrefix("  - ") }.map { String($0.dropFirst(4)) }
    return bullets.isEmpty ? first : first + " " + bullets.joined(separator: ", ")
}
