import NIOCore
import NIOSSL
import NIOTLS

/// Completes a promise once the server accepted the TLS connection, or fails it with the
/// reason the connection ended first (a certificate that did not verify, a plaintext
/// server, a refused client certificate).
///
/// Under TLS 1.3 the client's handshake completes before the server has checked the
/// client certificate; a refusal then arrives as an alert afterwards. So after the
/// handshake this sends one `PING` and waits for the first reply line (`+PONG`, or
/// `-NOAUTH` before AUTH, either will do): only then is the tunnel known to work. The reply
/// is consumed here, so hiredis never sees it.
final class TLSHandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let promise: EventLoopPromise<Void>
    private var handshakeDone = false

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            handshakeDone = true
            var ping = context.channel.allocator.buffer(capacity: 14)
            ping.writeString("*1\r\n$4\r\nPING\r\n")
            context.writeAndFlush(NIOAny(ping), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard handshakeDone, bytes.readableBytesView.last == UInt8(ascii: "\n") else {
            // a partial line: keep waiting (the reply is one short line)
            if !handshakeDone { context.fireChannelRead(data) }
            return
        }
        promise.succeed(())
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}
