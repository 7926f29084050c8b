import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

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

    static func bind(host: String, port: Int, routes: MetricsRoutes, logger: Logger) async throws -> MetricsServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try Connection(wrappingChannelSynchronously: child)
                }
            }
        return MetricsServer(channel: channel, routes: routes, logger: logger)
    }

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await channel.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            group.addTask { await serve(connection) }
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
