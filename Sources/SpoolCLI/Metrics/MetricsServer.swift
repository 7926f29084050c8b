import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A small HTTP/1.1 server for `/metrics`, `/healthz` and `/readyz` (GET only).
///
/// Bound before the worker starts, so a taken port fails `spool worker` at once. It stops
/// when its task is cancelled or the service group shuts down gracefully.
struct MetricsServer: Service {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let channel: NIOAsyncChannel<Connection, Never>
    let routes: MetricsRoutes
    let logger: Logger

    /// The bound address (the real port when 0 was asked for).
    var localAddress: SocketAddress? { channel.channel.localAddress }

    /// The most connections served at once; more are closed as they come. A scraper needs one:
    /// the bound keeps clients that connect and hold (a local user, or anyone when bound to
    /// `0.0.0.0`) from using up the file descriptors the worker's jobs need.
    static let maxConnections = 32
    /// A connection that neither sends nor receives for this long is closed.
    static let idleTimeout = TimeAmount.seconds(60)

    static func bind(host: String, port: Int, routes: MetricsRoutes, logger: Logger) async throws -> MetricsServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(allTimeout: idleTimeout), CloseWhenIdle(),
                    ])
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try Connection(wrappingChannelSynchronously: child)
                }
            }
        return MetricsServer(channel: channel, routes: routes, logger: logger)
    }

    func run() async throws {
        let open = OpenConnections()
        try await cancelWhenGracefulShutdown {
            try await channel.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            guard open.count.add(1, ordering: .relaxed).newValue <= Self.maxConnections else {
                                open.count.subtract(1, ordering: .relaxed)
                                logger.debug("metrics server at its connection limit: closing a new connection")
                                try? await connection.executeThenClose { _, _ in }
                                continue
                            }
                            group.addTask {
                                await serve(connection)
                                open.count.subtract(1, ordering: .relaxed)
                            }
                        }
                    } catch {
                        logger.debug("metrics server stopped accepting", metadata: ["error": "\(error)"])
                    }
                    group.cancelAll()
                }
            }
        }
    }

    /// Answers the requests of one connection until it closes (keep-alive honoured).
    private func serve(_ connection: Connection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead):
                        head = requestHead
                    case .body:
                        continue
                    case .end:
                        guard let request = head else { continue }
                        head = nil
                        let response = await routes.respond(method: request.method, path: request.uri)
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: response.contentType)
                        headers.add(name: "Content-Length", value: "\(response.body.count)")
                        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers)))
                        if request.method != .HEAD {
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
                        }
                        try await outbound.write(.end(nil))
                        if !request.isKeepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("metrics connection failed", metadata: ["error": "\(error)"])
        }
    }
}

/// The connections being served.
private final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}

/// Closes the connection on the ``IdleStateHandler``'s event.
private final class CloseWhenIdle: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
