/// Thrown by a handler to say that the job **did not run** and is not at fault: the worker
/// could not start it (for the `spool` binary's exec handler: the program is missing, its
/// `#!` interpreter is, the worker is out of file descriptors or processes).
///
/// The job is handed back to its group unstarted, as the same attempt — as a job cut off by
/// a shutdown is — so it uses up no attempt, is never dead-lettered for it, and any worker of
/// the group (this one included) can take it again at once. The error is logged at error
/// level (once, then at most every 30 s per queue and group) and counted in
/// `spool.jobs.processed{status=handed_back}`, with no `spool.job.duration`. This worker then keeps the job's handler slot, idle, for ``pause`` before taking
/// another job, so a worker that cannot start anything does not spin through its queue: with
/// every slot paused it fetches nothing until a pause ends (a shutdown ends the pauses).
///
/// Throw it only before the job's effect began: a job that did part of its work and then
/// fails should throw a plain error (retried, counted) instead. A handler that goes on
/// throwing it for a job makes that job go round forever; the error log and the
/// `handed_back` count say so.
/// Thrown after the handler timeout, it counts as the timeout: the job failed.
public struct HandBackError: Error, Sendable, CustomStringConvertible {
    /// Why the job could not be started; logged.
    public var message: String
    /// How long this worker keeps the slot idle before taking another job (0: none).
    public var pause: Duration

    /// Creates an error from a reason and the pause before the slot takes another job.
    public init(_ message: String, pause: Duration = .seconds(1)) {
        self.message = message
        self.pause = pause
    }

    public var description: String { message }
}
