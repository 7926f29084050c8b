#if canImport(Glibc)
import Glibc
#endif

/// `accept4(listener, nil, nil, SOCK_CLOEXEC)`: a connection accepted close-on-exec from the
/// start, so that a process another test spawns at that moment does not inherit it (and keep
/// it open after the test closes its end). glibc's `accept4` is not imported into Swift, so it
/// is looked up; where it is missing, `accept` and then `FD_CLOEXEC`.
public func acceptClosingOnExec(_ listener: Int32) -> Int32 {
    typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "accept4") else {
        let connection = accept(listener, nil, nil)
        if connection >= 0 { _ = fcntl(connection, F_SETFD, FD_CLOEXEC) }
        return connection
    }
    return unsafeBitCast(symbol, to: Accept4.self)(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
}
