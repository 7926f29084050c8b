import Logging
import SpoolRedis

/// A thread of its own for a worker (``SpoolWorker/Configuration/dedicatedThread``) or a
/// producer (``SpoolProducer/withDedicatedThread(client:configuration:busyPoll:logger:metricsFactory:tracer:isolation:_:)``):
/// a ``ConnectionLoop`` that runs the tasks preferring it and, on a single server, drives the
/// shared connections of a client that follows the caller's (`client`; `nil` on a cluster).
struct OwnThread {
    let loop: ConnectionLoop
    let client: RedisClient?

    /// Starts the thread; `nil`, with `warning(cause)` logged, when no thread can be started
    /// (the caller then works on the shared pool, only with more thread wake-ups).
    init?(following parent: RedisClient, busyPoll: Duration, logger: Logger, warning: (String) -> Logger.Message) {
        do {
            loop = try ConnectionLoop(busyPoll: busyPoll)
        } catch {
            logger.warning(warning(error.cause))
            return nil
        }
        // it goes down with `parent`, so a client shut down under its user stops it as before
        client = RedisClient(following: parent, loop: loop)
    }

    /// Closes the following client and ends the thread, waiting for it. Call once every task
    /// that prefers the loop has ended, and not on the loop's thread.
    func close(following parent: RedisClient) {
        if let client {
            parent.stopFollowing(client)
            client.shutdown()
        }
        loop.shutdown()
    }
}
