import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An in-process TLS tunnel for one hiredis connection (hiredis 0.14 has no TLS).
///
/// ``open(host:port:options:timeout:address:)`` connects to Redis over TLS with SwiftNIO and
/// NIOSSL, completes and verifies the handshake, and only then hands back one end of a
/// `socketpair(2)` whose other end is glued to the TLS channel. hiredis drives that socket
/// exactly like a TCP one (blocking reads, timeouts, `shutdown` to interrupt). Nothing
/// listens anywhere, so no other process can reach the tunnel. Closing the socket (by
/// `redisFree`) closes the TLS connection, and a TLS connection that ends closes the socket.
enum TLSTunnel {
    /// Connects, completes the TLS handshake within `timeout`, and returns the socket for hiredis.
    ///
    /// Runs on a connection's own thread and blocks it, like hiredis's connect (on a
    /// ``ConnectionLoop``'s thread for a connection the loop drives: its tasks wait meanwhile).
    /// - Throws: ``RedisError`` `connectionFailed` with the TLS reason (certificate not
    ///   trusted or expired, name mismatch, plaintext server, unreadable certificate files).
    ///
    /// - Parameter lastSetupFailure: the connection's last failed TLS setup: while its files
    ///   are unchanged, the attempt fails the same way at once (see ``SetupFailure``). Set on
    ///   a failed setup, cleared on a good one.
    static func open(
        host: String, port: Int, options: TLSOptions, timeout: Duration, address: String,
        lastSetupFailure: inout SetupFailure?
    ) throws(RedisError) -> Int32 {
        let files = FileStamp.of(options)
        if let last = lastSetupFailure, last.files == files { throw last.error }
        let context: NIOSSLContext
        do {
            context = try makeContext(options, address: address)
        } catch {
            lastSetupFailure = SetupFailure(files: files, error: error)
            throw error
        }
        lastSetupFailure = nil
        return try open(host: host, port: port, context: context, options: options, timeout: timeout, address: address)
    }

    /// A TLS setup that failed, with the state of the files it read.
    ///
    /// Why: NIOSSL (2.37) leaks the BoringSSL context it was building, with its trust store
    /// (about 800 KB with the system's), each time building one throws, as it does for a key
    /// that does not match its certificate. A client retrying its connect would grow by that
    /// much on every attempt. A setup error needs the files changed to go away, so the next
    /// attempt reads them again only then.
    struct SetupFailure: Sendable {
        fileprivate let files: [FileStamp?]
        fileprivate let error: RedisError
    }

    /// What identifies a file's contents without reading it: device, inode, size, change time.
    fileprivate struct FileStamp: Equatable, Sendable {
        let device: UInt64
        let inode: UInt64
        let size: Int64
        let changed: timespec

        /// The stamps of the CA, certificate and key files (`nil` for one not set or not there).
        static func of(_ options: TLSOptions) -> [FileStamp?] {
            [options.caFile, options.certificateFile, options.keyFile].map { path in
                var info = stat()
                guard let path, stat(path, &info) == 0 else { return nil }
                return FileStamp(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size), changed: info.st_ctim)
            }
        }

        static func == (lhs: FileStamp, rhs: FileStamp) -> Bool {
            lhs.device == rhs.device && lhs.inode == rhs.inode && lhs.size == rhs.size
                && lhs.changed.tv_sec == rhs.changed.tv_sec && lhs.changed.tv_nsec == rhs.changed.tv_nsec
        }
    }

    #if DEBUG
    /// How many contexts were built (or tried) per key file (`""` for none): for tests.
    package static let contextBuilds = Mutex<[String: Int]>([:])
    #endif

    /// The context for `options`, its files checked first (``configuration(_:)``).
    private static func makeContext(_ options: TLSOptions, address: String) throws(RedisError) -> NIOSSLContext {
        #if DEBUG
        contextBuilds.withLock { $0[options.keyFile ?? "", default: 0] += 1 }
        #endif
        do {
            return try NIOSSLContext(configuration: configuration(options))
        } catch let error as TLSSetupError {
            throw failure("TLS setup failed: \(error.text)", address: address)
        } catch NIOSSLError.failedToLoadPrivateKey where options.certificateFile != nil && options.keyFile != nil {
            // both files loaded on their own (``configuration(_:)`` checked), so BoringSSL
            // refused the pair: the usual cause is a key of another certificate
            throw failure(
                "TLS setup failed: key=\(options.keyFile!) does not match the certificate in cert=\(options.certificateFile!) "
                    + "(or is of a key type TLS cannot use)",
                address: address
            )
        } catch {
            throw failure("TLS setup failed: \(describe(error)) (check the CA, certificate and key files)", address: address)
        }
    }

    /// Connects with `context` and completes the handshake within `timeout`.
    private static func open(
        host: String, port: Int, context: NIOSSLContext, options: TLSOptions, timeout: Duration, address: String
    ) throws(RedisError) -> Int32 {
        let serverName = options.serverName ?? (isIPAddress(host) ? nil : host)
        let deadline = NIODeadline.now() + TimeAmount.nanoseconds(timeout.nanoseconds)
        let group = MultiThreadedEventLoopGroup.singleton
        let eventLoop = group.next()
        let handshake = eventLoop.makePromise(of: Void.self)

        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount.nanoseconds(timeout.nanoseconds))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHandler(TLSHandshakeWaiter(promise: handshake))
                }
            }
        let remote: any Channel
        do {
            remote = try bootstrap.connect(host: host, port: port).wait()
        } catch {
            handshake.fail(error)
            throw failure(connectFailure(error), address: address)
        }
        let timer = eventLoop.scheduleTask(deadline: deadline) {
            handshake.fail(TunnelTimeout())
            remote.close(promise: nil)
        }
        do {
            try handshake.futureResult.wait()
            timer.cancel()
        } catch {
            timer.cancel()
            remote.close(promise: nil)
            throw failure(handshakeFailure(error, timeout: timeout, name: serverName ?? host), address: address)
        }

        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, streamType, 0, &pair) == 0 else {
            remote.close(promise: nil)
            throw failure("socketpair failed: errno \(errno)", address: address)
        }
        do {
            let local = try ClientBootstrap(group: eventLoop).withConnectedSocket(pair[1]).wait()
            try eventLoop.submit {
                let (remoteGlue, localGlue) = TunnelGlueHandler.matchedPair()
                try remote.pipeline.syncOperations.addHandler(remoteGlue)
                try local.pipeline.syncOperations.addHandler(localGlue)
                // either side may have ended meanwhile: pass the end on
                if !remote.isActive { local.close(promise: nil) }
                if !local.isActive { remote.close(promise: nil) }
            }.wait()
        } catch {
            remote.close(promise: nil)
            close(pair[0])
            throw failure("TLS tunnel setup failed: \(describe(error))", address: address)
        }
        return pair[0]
    }

    /// A connect that failed, with `message`.
    private static func failure(_ message: String, address: String) -> RedisError {
        RedisError(code: .connectionFailed, message: message, address: address)
    }

    private struct TunnelTimeout: Error {}

    #if canImport(Glibc)
    private static let streamType = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamType = SOCK_STREAM
    #endif

    /// The TLS configuration for `options`. Each file is read here first, so that a failure
    /// names the option and the path and says why (NIOSSL's own errors, such as
    /// `noSuchFilesystemObject`, name neither): ``TLSSetupError``.
    private static func configuration(_ options: TLSOptions) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = options.verify ? .fullVerification : .none
        if let caFile = options.caFile {
            // NIOSSL reads the CA file only when it verifies; so is it checked only then
            if options.verify, try checkReadable(caFile, option: "ca", directoryAllowed: true) == .file {
                let certificates = try? NIOSSLCertificate.fromPEMFile(caFile)
                if certificates?.isEmpty ?? true {
                    throw TLSSetupError(text: "ca=\(caFile) is not a PEM file of CA certificates (no readable -----BEGIN CERTIFICATE----- block)")
                }
            }
            configuration.trustRoots = .file(caFile)
        }
        if let certificateFile = options.certificateFile {
            guard let keyFile = options.keyFile else {
                throw TLSSetupError(text: "a client certificate needs its key file (key=)")
            }
            _ = try checkReadable(certificateFile, option: "cert", directoryAllowed: false)
            let chain = (try? NIOSSLCertificate.fromPEMFile(certificateFile)) ?? []
            if chain.isEmpty {
                throw TLSSetupError(text: "cert=\(certificateFile) is not a PEM certificate (no readable -----BEGIN CERTIFICATE----- block)")
            }
            configuration.certificateChain = chain.map { .certificate($0) }
            _ = try checkReadable(keyFile, option: "key", directoryAllowed: false)
            guard let key = try? NIOSSLPrivateKey(file: keyFile, format: .pem) else {
                throw TLSSetupError(
                    text: "key=\(keyFile) is not a PEM private key (no readable -----BEGIN … PRIVATE KEY----- block), "
                        + "or it is encrypted with a passphrase, which is not supported"
                )
            }
            configuration.privateKey = .privateKey(key)
        } else if options.keyFile != nil {
            throw TLSSetupError(text: "a key file needs its client certificate (cert=)")
        }
        return configuration
    }

    private enum FileKind { case file, directory }

    /// Checks that `path` can be opened for reading; throws a ``TLSSetupError`` naming the
    /// option, the path and the reason (no such file, permission denied, a directory, ...).
    private static func checkReadable(_ path: String, option: String, directoryAllowed: Bool) throws -> FileKind {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TLSSetupError(text: "\(option)=\(path) cannot be read: \(String(cString: strerror(errno)))")
        }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        if isDirectory && !directoryAllowed {
            throw TLSSetupError(text: "\(option)=\(path) is a directory, not a PEM file")
        }
        #if canImport(Glibc)
        let descriptor = Glibc.open(path, O_RDONLY | (isDirectory ? O_DIRECTORY : 0))
        #else
        let descriptor = Darwin.open(path, O_RDONLY | (isDirectory ? O_DIRECTORY : 0))
        #endif
        guard descriptor >= 0 else {
            throw TLSSetupError(text: "\(option)=\(path) cannot be read: \(String(cString: strerror(errno)))")
        }
        close(descriptor)
        return isDirectory ? .directory : .file
    }

    private struct TLSSetupError: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }

    private static func connectFailure(_ error: any Error) -> String {
        if let error = error as? ChannelError, case .connectTimeout = error {
            return "TCP connect timed out"
        }
        let text = describe(error)
        let hint = text.contains("refused") ? " (is redis-server listening for TLS there?)" : ""
        return text + hint
    }

    private static func handshakeFailure(_ error: any Error, timeout: Duration, name: String) -> String {
        if error is TunnelTimeout {
            return "TLS handshake did not complete within \(timeout) (is this a TLS port?)"
        }
        if let error = error as? ChannelError, case .eof = error {
            return "the server closed the connection during the TLS handshake (is this a TLS port? does it require a client certificate?)"
        }
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "TLS handshake failed: the server's certificate does not name \(name) (connect by a name it carries, or set sni=)"
        }
        let reason = describe(error)
        let hint: String
        switch reason {
        case "WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST":
            hint = "the server does not speak TLS: is this the plaintext port?"
        case "CERTIFICATE_VERIFY_FAILED":
            hint = "the server's certificate is not trusted: signed by another CA than ca= (or the system's), or expired"
        case "TLSV1_ALERT_CERTIFICATE_REQUIRED":
            hint = "the server requires a client certificate: set cert= and key="
        case "TLSV1_ALERT_UNKNOWN_CA", "TLSV1_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_CERTIFICATE_EXPIRED":
            hint = "the server refused the client certificate"
        default:
            hint = ""
        }
        return "TLS handshake failed: \(reason)" + (hint.isEmpty ? "" : " (\(hint))")
    }

    /// The BoringSSL reason (e.g. `CERTIFICATE_VERIFY_FAILED`) when there is one, else the error's text.
    private static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        guard let marker = text.firstRange(of: "OPENSSL_internal:") else { return text }
        let reason = text[marker.upperBound...].prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
        return reason.isEmpty ? text : String(reason)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating.
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
