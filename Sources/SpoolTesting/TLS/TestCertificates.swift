#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A throwaway PKI made with the `openssl` CLI in a temp directory: a CA, a server
/// certificate for 127.0.0.1 and localhost, an expired one, a client certificate, and a
/// second CA that signed none of them.
public struct TestCertificates: Sendable {
    /// The directory holding every file; ``remove()`` deletes it.
    public let directory: String

    /// The CA that signed the server and client certificates.
    public var caFile: String { directory + "/ca.crt" }
    /// A CA that signed nothing here (its key is `other-ca.key` beside it).
    public var otherCAFile: String { directory + "/other-ca.crt" }
    /// The server certificate, for IP 127.0.0.1 and DNS localhost (also good as a client certificate, for the TLS cluster bus).
    public var serverCertificate: String { directory + "/server.crt" }
    /// The key of every server certificate here.
    public var serverKey: String { directory + "/server.key" }
    /// The server certificate, expired since yesterday.
    public var expiredCertificate: String { directory + "/expired.crt" }
    /// For `localhost` only: no IP address among its names.
    public var namedCertificate: String { directory + "/named.crt" }
    /// A client certificate signed by the CA, for mutual TLS.
    public var clientCertificate: String { directory + "/client.crt" }
    /// The client certificate's key.
    public var clientKey: String { directory + "/client.key" }

    /// Generates everything (EC P-256 keys, so it takes well under a second).
    public static func make() async throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        do {
            try await certificates.generate()
        } catch {
            certificates.remove()
            throw error
        }
        return certificates
    }

    /// Deletes the directory.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func generate() async throws {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try await openssl(["req", "-x509", "-new"] + ec + ["-keyout", path("\(ca).key"), "-out", path("\(ca).crt"), "-days", "2", "-subj", "/CN=Spool test \(ca)"])
        }
        // clientAuth too: the nodes of a TLS cluster present it to each other on the cluster
        // bus, where Redis always asks for a client certificate
        try write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
        try write("named.ext", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try write("client.ext", "extendedKeyUsage=clientAuth\n")
        try await openssl(["req", "-new"] + ec + ["-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=localhost"])
        try await openssl(["req", "-new"] + ec + ["-keyout", path("client.key"), "-out", path("client.csr"), "-subj", "/CN=spool-client"])
        let sign = ["x509", "-req", "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial"]
        try await openssl(sign + ["-in", path("server.csr"), "-out", path("server.crt"), "-days", "1", "-extfile", path("server.ext")])
        // valid from now, expired since yesterday
        try await openssl(sign + ["-in", path("server.csr"), "-out", path("expired.crt"), "-days", "-1", "-extfile", path("server.ext")])
        try await openssl(sign + ["-in", path("server.csr"), "-out", path("named.crt"), "-days", "1", "-extfile", path("named.ext")])
        try await openssl(sign + ["-in", path("client.csr"), "-out", path("client.crt"), "-days", "1", "-extfile", path("client.ext")])
    }

    /// A file of the directory, by its full path (openssl runs in the test process's own
    /// working directory).
    private func path(_ name: String) -> String { directory + "/" + name }

    private func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path(name), atomically: false, encoding: .utf8)
    }

    /// Runs `openssl` to its end without holding a thread of the task pool (see
    /// ``ChildProcess/wait(within:)``); its standard error goes to a file, not a pipe (a
    /// child another test spawns meanwhile would inherit a pipe's write end, and reading to
    /// its end would wait for that child, see `NetworkNamespace.run`).
    private func openssl(_ arguments: [String]) async throws {
        let errorsPath = path("openssl.err")
        unlink(errorsPath)
        let child = try ChildProcess.spawn(
            executable: "/usr/bin/openssl", arguments: arguments, environment: ProcessInfo.processInfo.environment,
            outputPath: "/dev/null", errorPath: errorsPath
        )
        let ended = await child.wait(within: .seconds(60))
        let text = String(decoding: FileManager.default.contents(atPath: errorsPath) ?? Data(), as: UTF8.self)
        guard ended == .exited(0) else {
            let how = ended.map { "\($0)" } ?? "was killed: it ran longer than 60 s, or the test was cancelled"
            throw RedisServerError(code: .launchFailed, message: "openssl \(arguments.joined(separator: " ")) \(how): \(text)")
        }
    }
}
