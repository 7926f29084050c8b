#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Spawns `redis-server`, waits until it answers, and checks it is the one spawned.
enum ServerLauncher {
    /// How long a server may take to answer PING after it was spawned.
    static let startTimeout: Duration = .seconds(10)

    /// Starts `redis-server` on `port` and returns it once it answers as itself.
    ///
    /// On any failure (including cancellation) the child is killed and reaped first.
    static func launch(
        executable: String, layout: ServerLayout, port: Int, tlsPort: Int? = nil, clusterBusPort: Int? = nil
    ) async throws -> ChildProcess {
        let logOffset = fileSize(layout.logPath)
        let outputOffset = fileSize(layout.outputPath)
        var command = [executable] + layout.arguments(port: port, tlsPort: tlsPort, clusterBusPort: clusterBusPort)
        if let namespace = layout.options.networkNamespace {
            // `ip netns exec` execs redis-server itself, so the child's pid stays the server's.
            command = try [Executables.ip(), "netns", "exec", namespace] + command
        }
        let child = try ChildProcess.spawn(
            executable: command[0],
            arguments: Array(command.dropFirst()),
            environment: ProcessInfo.processInfo.environment,
            outputPath: layout.outputPath
        )
        let probe = RedisProbe(
            endpoint: .tcp(host: layout.options.bindAddresses.first ?? "127.0.0.1", port: port),
            password: layout.options.password,
            timeout: .seconds(1)
        )
        func logs() -> String {
            tail(of: layout.outputPath, from: outputOffset) + tail(of: layout.logPath, from: logOffset)
        }
        func killed(_ error: any Error) -> any Error {
            child.send(SIGKILL)
            _ = child.reapBlocking()
            return error
        }

        let deadline = ContinuousClock.now.advanced(by: startTimeout)
        while true {
            if let termination = child.reapIfEnded() {
                let log = logs()
                let code: RedisServerError.Code = log.contains("Address already in use") ? .addressInUse : .exitedEarly
                throw RedisServerError(code: code, message: "redis-server on port \(port) \(termination):\n\(log)")
            }
            switch await identify(probe) {
            case .notReady:
                break
            case .pid(let pid) where pid == child.pid:
                return child
            case .pid, .refusedAuth:
                throw killed(RedisServerError(code: .foreignServer, message: "port \(port) answered by another redis-server"))
            }
            if Task.isCancelled {
                throw killed(CancellationError())
            }
            if ContinuousClock.now >= deadline {
                let message = "redis-server on port \(port) did not answer within \(startTimeout):\n\(logs())"
                throw killed(RedisServerError(code: .startTimedOut, message: message))
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private enum Identity {
        case notReady
        case pid(Int32)
        case refusedAuth
    }

    /// PINGs, then reads `process_id` from `INFO server`.
    private static func identify(_ probe: RedisProbe) async -> Identity {
        let replies: [RedisProbe.Reply]
        do {
            replies = try await probe.pipeline([["PING"], ["INFO", "server"]])
        } catch where error.code == .commandFailed {
            return .refusedAuth
        } catch {
            return .notReady
        }
        // LOADING (replaying the append-only file) or any other error: not ready yet.
        guard replies.count == 2, replies[0].string == "PONG", let info = replies[1].string else {
            return .notReady
        }
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("process_id:") {
            if let pid = Int32(line.dropFirst("process_id:".count)) {
                return .pid(pid)
            }
        }
        return .notReady
    }

    private static func fileSize(_ path: String) -> Int {
        FileManager.default.contents(atPath: path)?.count ?? 0
    }

    /// The last lines written to `path` after byte `offset`.
    static func tail(of path: String, from offset: Int = 0, lines: Int = 20) -> String {
        guard let data = FileManager.default.contents(atPath: path), data.count > offset else { return "" }
        let text = String(decoding: data.dropFirst(offset), as: UTF8.self)
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n") + "\n"
    }
}
