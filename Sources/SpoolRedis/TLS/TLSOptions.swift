/// How a `rediss://` connection does TLS: whom to trust, which client certificate to show,
/// which name to check.
///
/// Every connection verifies the server's certificate chain and its name (or IP address)
/// unless ``verify`` is turned off, and never falls back to plaintext.
public struct TLSOptions: Sendable, Hashable {
    /// A PEM file of CA certificates to trust instead of the system's trust store.
    /// Defaults to `nil` (the system trust store).
    public var caFile: String?
    /// A PEM client certificate (chain) for mutual TLS. Defaults to `nil` (no client certificate).
    public var certificateFile: String?
    /// The PEM private key of ``certificateFile``. Defaults to `nil`.
    public var keyFile: String?
    /// The name sent with SNI and checked against the certificate. Defaults to `nil`: the
    /// URL's host when it is a name; an IP address is checked against the certificate's IP
    /// addresses and sends no SNI.
    public var serverName: String?
    /// Whether the server's certificate is verified. Defaults to `true`; turn it off only
    /// against a throwaway server, since anyone on the path can then read and change traffic.
    public var verify: Bool

    /// Creates options; the defaults trust the system's CAs and verify the server.
    public init(
        caFile: String? = nil,
        certificateFile: String? = nil,
        keyFile: String? = nil,
        serverName: String? = nil,
        verify: Bool = true
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
        self.verify = verify
    }
}
