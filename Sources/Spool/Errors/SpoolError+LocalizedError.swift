import Foundation

/// So that `localizedDescription` (and anything else that asks Foundation for an error's text)
/// gives the one-line message rather than "The operation could not be completed".
extension SpoolError: LocalizedError {
    /// The one-line ``message``.
    public var errorDescription: String? { message }
}
