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
    public static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        try certificates.generate()
        return certificates
    }

    /// Deletes the directory.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func generate() throws {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try openssl(["req", "-x509", "-new"] + ec + ["-keyout", "\(ca).key", "-out", "\(ca).crt", "-days", "2", "-subj", "/CN=Spool test \(ca)"])
        }
        // clientAuth too: the nodes of a TLS cluster present it to each other on the cluster
        // bus, where Redis always asks for a client certificate
        try write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
        try write("named.ext", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try write("client.ext", "extendedKeyUsage=clientAuth\n")
        try openssl(["req", "-new"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"])
        try openssl(["req", "-new"] + ec + ["-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=spool-client"])
        let sign = ["x509", "-req", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"]
        try openssl(sign + ["-in", "server.csr", "-out", "server.crt", "-days", "1", "-extfile", "server.ext"])
        // valid from now, expired since yesterday
        try openssl(sign + ["-in", "server.csr", "-out", "expired.crt", "-days", "-1", "-extfile", "server.ext"])
        try openssl(sign + ["-in", "server.csr", "-out", "named.crt", "-days", "1", "-extfile", "named.ext"])
        try openssl(sign + ["-in", "client.csr", "-out", "client.crt", "-days", "1", "-extfile", "client.ext"])
    }

    private func write(_ name: String, _ text: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: false, encoding: .utf8)
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        // a file, not a pipe: a child another test spawns meanwhile would inherit the pipe's
        // write end, and reading to its end would wait for that child (see NetworkNamespace.run)
        let errorsPath = directory + "/openssl.err"
        _ = FileManager.default.createFile(atPath: errorsPath, contents: nil)
        let errors = FileHandle(forWritingAtPath: errorsPath)
        defer { try? errors?.close() }
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: FileManager.default.contents(atPath: errorsPath) ?? Data(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw RedisServerError(code: .launchFailed, message: "openssl \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }
}
