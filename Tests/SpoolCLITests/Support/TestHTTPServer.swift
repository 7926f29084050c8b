import Foundation

/// A tiny HTTP server on 127.0.0.1 (Python's http.server in a child process) whose answer
/// depends on the path, logging every request as one JSON line.
///
/// - `/ok` → 200; `/fail` → 500; `/missing` → 404;
/// - `/retry-after` → 503 with `Retry-After: 1` the first time, then 200;
/// - `/redirect-away` → 307 to http://example.invalid/.
///
final class TestHTTPServer: Sendable {
    let process: ChildProgram
    let port: Int
    let logPath: String

    static let script = #"""
        import http.server, json, sys, time, threading
        log_path, port_path = sys.argv[1], sys.argv[2]
        lock = threading.Lock()
        seen = {}
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length).decode('utf-8', 'replace')
                with lock:
                    seen[self.path] = seen.get(self.path, 0) + 1
                    count = seen[self.path]
                    with open(log_path, 'a') as f:
                        f.write(json.dumps({'path': self.path, 'time': time.time(), 'body': body,
                                            'headers': {k.lower(): v for k, v in self.headers.items()}}) + '\n')
                headers = {}
                if self.path == '/ok': status = 200
                elif self.path == '/fail': status = 500
                elif self.path == '/missing': status = 404
                elif self.path == '/missing-big': status = 404
                elif self.path == '/retry-after':
                    status = 503 if count == 1 else 200
                    if count == 1: headers['Retry-After'] = '1'
                elif self.path == '/redirect-away':
                    status = 307; headers['Location'] = 'http://example.invalid/'
                else: status = 400
                text = ('status %d for %s' % (status, self.path)).encode()
                if self.path == '/missing-big': text = b'x' * 100000 + b' THE END of a long body'
                self.send_response(status)
                for k, v in headers.items(): self.send_header(k, v)
                self.send_header('Content-Length', str(len(text)))
                self.end_headers()
                self.wfile.write(text)
            def log_message(self, *args): pass
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        with open(port_path + '.tmp', 'w') as f: f.write(str(server.server_address[1]))
        import os; os.rename(port_path + '.tmp', port_path)
        server.serve_forever()
        """#

    private init(process: ChildProgram, port: Int, logPath: String) {
        self.process = process
        self.port = port
        self.logPath = logPath
    }

    static func start(in directory: String) async throws -> TestHTTPServer {
        let scriptPath = "\(directory)/server.py"
        try script.write(toFile: scriptPath, atomically: false, encoding: .utf8)
        let logPath = "\(directory)/requests.jsonl"
        let portPath = "\(directory)/server.port"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = try ChildProgram(
            executable: "/usr/bin/python3", arguments: [scriptPath, logPath, portPath], directory: directory,
            environment: ProcessInfo.processInfo.environment, stdinPath: nil,
            stdoutPath: "\(directory)/server.out", stderrPath: "\(directory)/server.err"
        )
        var port = 0
        try await waitUntil("the test HTTP server listens", within: .seconds(15)) {
            port = Int((try? String(contentsOfFile: portPath, encoding: .utf8)) ?? "") ?? 0
            return port > 0 || process.exitStatus != nil
        }
        guard port > 0 else { throw TestFailure("the test HTTP server (python3) did not start") }
        return TestHTTPServer(process: process, port: port, logPath: logPath)
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// The requests so far.
    func requests() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func requests(to path: String) -> [[String: Any]] {
        requests().filter { $0["path"] as? String == path }
    }

    func stop() {
        guard process.exitStatus == nil else { return }
        kill(process.pid, SIGKILL)
        for _ in 0..<500 where process.exitStatus == nil { usleep(10_000) }
    }
}
