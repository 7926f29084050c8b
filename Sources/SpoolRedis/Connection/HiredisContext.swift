import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A hiredis context: one blocking socket. Used only by the thread that owns its connection.
///
/// Not `Sendable`: it never leaves its connection thread.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>
    private let address: String
    /// Receives the values hiredis's reader parses (installed on it right after connecting).
    private let replies = ReplyBuilder()

    /// The socket, for interrupting a blocked read from another thread.
    var fileDescriptor: Int32 { context.pointee.fd }

    /// Looks the host up (``HostLookup``, within ``HostLookup/timeout(connectTimeout:)``), then
    /// connects within `timeout`: to each of a host name's addresses in turn until one connects,
    /// while time is left. Throws `connectionFailed` with the lookup's or hiredis's reason (the
    /// last address's).
    init(address: RedisAddress, redacted: String, timeout: Duration) throws(RedisError) {
        var raw: UnsafeMutablePointer<redisContext>?
        switch address {
        case .tcp(let host, let port):
            let addresses: [String]
            do throws(HostLookup.Failure) {
                addresses = try HostLookup.addresses(of: host, timeout: HostLookup.timeout(connectTimeout: timeout))
            } catch {
                throw RedisError(code: .connectionFailed, message: error.reason, address: redacted)
            }
            let deadline = ContinuousClock.now + timeout
            for numeric in addresses {
                let left = deadline - .now
                if let failed = raw {
                    // the last address failed: the next one, while time is left
                    if left <= .zero { break }
                    redisFree(failed)
                }
                raw = redisConnectWithTimeout(numeric, Int32(port), Self.timeval(max(left, .milliseconds(1))))
                if raw.map({ $0.pointee.err == 0 }) ?? true { break }
            }
        case .unix(let path):
            raw = redisConnectUnixWithTimeout(path, Self.timeval(timeout))
        }
        guard let raw else {
            throw RedisError(code: .connectionFailed, message: "out of memory creating a hiredis context", address: redacted)
        }
        if raw.pointee.err != 0 {
            let reason = Self.errorText(raw)
            redisFree(raw)
            let hint = reason.contains("refused") ? " (is redis-server running there?)" : ""
            throw RedisError(code: .connectionFailed, message: reason + hint, address: redacted)
        }
        self.context = raw
        self.address = redacted
        replies.install(on: raw)
        if case .tcp = address { _ = redisEnableKeepAlive(raw) }
        _ = redisSetTimeout(raw, Self.timeval(timeout))
    }

    /// Wraps a connected socket (the hiredis end of a TLS tunnel); the context owns and closes it.
    init(connectedSocket fd: Int32, redacted: String, timeout: Duration) throws(RedisError) {
        guard let raw = redisConnectFd(fd) else {
            close(fd)
            throw RedisError(code: .connectionFailed, message: "out of memory creating a hiredis context", address: redacted)
        }
        self.context = raw
        self.address = redacted
        replies.install(on: raw)
        _ = redisSetTimeout(raw, Self.timeval(timeout))
    }

    deinit {
        redisFree(context)
        receiveBuffer?.deallocate()
    }

    /// Sets the socket read/write timeout (the command timeout).
    func setTimeout(_ timeout: Duration) {
        _ = redisSetTimeout(context, Self.timeval(timeout))
    }

    /// Writes already RESP-encoded commands to the socket, whole, before returning.
    ///
    /// Straight from `bytes`, not through hiredis's output buffer: that buffer is a fresh
    /// allocation grown to each batch's size and freed once sent, and at the fetch script's
    /// size (a kilobyte or more) every such `malloc` made glibc consolidate its fast bins
    /// (`malloc_consolidate` and `unlink_chunk`: 6% of a busy worker's `perf` samples). hiredis
    /// is left with an empty output buffer, so
    /// ``readReply()`` only reads.
    func write(_ bytes: [UInt8]) throws(RedisError) {
        let fd = context.pointee.fd
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count > 0 {
                sent += count
                continue
            }
            let code = errno
            if count < 0 && code == EINTR { continue }
            if count < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                // the socket's send timeout (the command timeout) passed with the buffer full
                throw RedisError(code: .timeout, message: "could not send within the command timeout", address: address)
            }
            let reason = count < 0 ? String(cString: strerror(code)) : "nothing written"
            throw RedisError(code: .connectionClosed, message: reason, address: address)
        }
    }

    /// Whether the socket has something to read, an end of stream or an error pending, without
    /// waiting: on a connection with no command outstanding, that means the server closed it
    /// (a restart, its `timeout` setting, `CLIENT KILL`), or it is broken.
    var isReadableWhileIdle: Bool {
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0 && descriptor.revents != 0
    }

    /// Reads what the socket holds without waiting and hands it to the reply parser, for a
    /// connection driven by a ``ConnectionLoop``; returns whether anything was read. Throws on
    /// an end of stream or an I/O error.
    func receiveAvailable() throws(RedisError) -> Bool {
        guard let reader = context.pointee.reader else {
            throw RedisError(code: .connectionClosed, message: "the connection has no reply reader", address: address)
        }
        let buffer = receiveBuffer ?? UnsafeMutablePointer<CChar>.allocate(capacity: Self.receiveBufferSize)
        receiveBuffer = buffer
        let fd = context.pointee.fd
        var received = false
        while true {
            let count = recv(fd, buffer, Self.receiveBufferSize, Int32(MSG_DONTWAIT))
            if count > 0 {
                received = true
                if redisReaderFeed(reader, buffer, count) != REDIS_OK {
                    throw RedisError(code: .protocolError, message: "the reply parser refused the input", address: address)
                }
                // a short read emptied the socket: spare the call that would say so
                if count < Self.receiveBufferSize { return true }
                continue
            }
            let code = errno
            if count < 0 && code == EINTR { continue }
            if count < 0 && (code == EAGAIN || code == EWOULDBLOCK) { return received }
            // The replies read before an end of stream (or a reset) are handed out first: the
            // next call finds it again, as a read after an end of stream reads nothing.
            if received { return true }
            if count == 0 {
                throw RedisError(code: .connectionClosed, message: "server closed the connection", address: address)
            }
            throw RedisError(code: .connectionClosed, message: String(cString: strerror(code)), address: address)
        }
    }

    /// The next reply parsed from what ``receiveAvailable()`` read; `nil` when none is complete yet.
    func nextParsedReply() throws(RedisError) -> RESPValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(context, &reply) == REDIS_OK else { throw ioError() }
        guard reply != nil else { return nil }
        guard let value = replies.take() else { throw ioError() }
        return value
    }

    private static let receiveBufferSize = 16 * 1024
    /// Where ``receiveAvailable()`` reads to; allocated on its first use (a threaded
    /// connection never uses it: hiredis reads for it).
    private var receiveBuffer: UnsafeMutablePointer<CChar>?

    /// Reads the next reply (built by ``ReplyBuilder`` as hiredis parses it).
    func readReply() throws(RedisError) -> RESPValue {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, reply != nil, let value = replies.take() else {
            throw ioError()
        }
        return value
    }

    private func ioError() -> RedisError {
        let reason = Self.errorText(context)
        let err = context.pointee.err
        if err == REDIS_ERR_IO && (reason.contains("temporarily unavailable") || reason.contains("timed out")) {
            return RedisError(code: .timeout, message: "no reply within the command timeout", address: address)
        }
        if err == REDIS_ERR_PROTOCOL {
            // what else answers on a Redis port: an HTTP server, a TLS one (rediss:// needed)
            let hint = reason.contains("reply type byte") ? " (is a Redis server listening there? For TLS, use rediss://)" : ""
            return RedisError(code: .protocolError, message: reason + hint, address: address)
        }
        if err == REDIS_ERR_EOF {
            return RedisError(code: .connectionClosed, message: "server closed the connection", address: address)
        }
        return RedisError(code: .connectionClosed, message: reason.isEmpty ? "I/O error" : reason, address: address)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let length = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes.prefix(length), as: UTF8.self)
        }
    }

    /// The socket timeout for `duration`, rounded up to whole microseconds: a `timeval` of
    /// zero means no timeout at all, so a positive duration never becomes one. Zero and
    /// negative durations are refused earlier (``RedisConfiguration/validate()``).
    private static func timeval(_ duration: Duration) -> timeval {
        let (seconds, microseconds) = socketTimeout(duration)
        return Glibc.timeval(tv_sec: seconds, tv_usec: microseconds)
    }

    /// The seconds and microseconds of ``timeval(_:)``: at least 1 µs.
    static func socketTimeout(_ duration: Duration) -> (seconds: Int, microseconds: Int) {
        guard duration > .zero else { return (0, 1) }
        let (seconds, attoseconds) = duration.components
        let micros = (attoseconds + 999_999_999_999) / 1_000_000_000_000
        return micros >= 1_000_000 ? (Int(seconds) + 1, Int(micros) - 1_000_000) : (Int(seconds), Int(micros))
    }
}

/// Names the calling thread `name`, cut to whole characters within 15 bytes (what Linux
/// keeps), for ``JoinableThread``. Here, in a file that imports CHiredis already: importing
/// it into ConditionLock.swift too broke the release build (`timespec`'s fields in
/// TLSTunnel.swift were then taken as CHiredis's, which that file does not import).
func nameThisThread(_ name: String) {
    var kept = ""
    var bytes = 0
    for scalar in name.unicodeScalars {
        bytes += scalar.utf8.count
        if bytes > 15 { break }
        kept.unicodeScalars.append(scalar)
    }
    #if os(Linux)
    _ = spool_name_this_thread(kept)
    #elseif canImport(Darwin)
    _ = pthread_setname_np(kept)
    #endif
}
