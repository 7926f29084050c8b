import SpoolRedis

/// The Lua scripts behind every atomic state change. Each touches keys of one queue only
/// (all carry the queue's hash tag), so each stays single-slot on Redis Cluster.
enum SpoolScripts {
    /// Enqueue with a dedup key and/or a delay.
    ///
    /// KEYS: stream, delayed zset, unique key (or the stream again when there is no dedup key).
    /// ARGV: job id, run-at ms (0 = now), dedup window ms (0 = no dedup), field, value, ...
    /// Returns `{1, id}` when enqueued, `{0, first id}` for a duplicate.
    ///
    /// The job is stored before the marker: Redis does not undo a script's writes when a later
    /// command fails (a key of another type, out of memory), and a marker set for a job that
    /// was not stored would make every retry of the push a "duplicate" of nothing.
    static let enqueue = RedisScript(#"""
        local window = tonumber(ARGV[3])
        if window > 0 then
          local first = redis.call('GET', KEYS[3])
          if first then return {0, first} end
        end
        local fields = {}
        for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
        local runAt = tonumber(ARGV[2])
        if runAt > 0 then
          redis.call('ZADD', KEYS[2], runAt, cmsgpack.pack(fields))
        else
          redis.call('XADD', KEYS[1], '*', unpack(fields))
        end
        -- the window as given: a Lua number would go back to Redis as text like 1e+17
        if window > 0 then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3]) end
        return {1, ARGV[1]}
        """#)

    /// Moves due members of a schedule (delayed jobs or retries) into a stream.
    ///
    /// A member it cannot turn into a stream entry (another producer wrote it: not a msgpack
    /// array of strings (a msgpack nil included), an odd count, too many fields, or one `XADD`
    /// refuses) still leaves
    /// the schedule: it goes into the stream as an entry of two fields, `spool_unreadable`
    /// (why) and `spool_member` (its bytes, unchanged), which the worker dead-letters with
    /// that reason. One bad member must never hold up the members due after it, nor be lost.
    ///
    /// KEYS: zset, stream. ARGV: now ms, limit. Returns the number moved.
    static let promote = RedisScript(#"""
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        for _, member in ipairs(due) do
          local ok, fields = pcall(cmsgpack.unpack, member)
          local problem
          -- the highest index, not the length: a msgpack nil leaves a hole, and the length of
          -- a table with holes may be taken at any of them (the fields after it would be lost)
          local count = (ok and type(fields) == 'table') and table.maxn(fields) or 0
          if not ok or type(fields) ~= 'table' then
            problem = 'not a msgpack array (strings must be msgpack str: Redis reads no bin)'
          elseif count < 2 or count % 2 == 1 then
            problem = 'not an even, non-empty list of names and values'
          elseif count > 2000 then
            problem = 'more than 1000 fields'
          else
            for i = 1, count do
              local t = type(fields[i])
              if t ~= 'string' and t ~= 'number' then
                problem = 'element ' .. i .. ' is a msgpack ' .. t .. ', not a string'
                break
              end
            end
          end
          if not problem then
            local added = redis.pcall('XADD', KEYS[2], '*', unpack(fields))
            if type(added) == 'table' and added.err then problem = 'XADD refused it: ' .. added.err end
          end
          if problem then
            redis.call('XADD', KEYS[2], '*', 'spool_unreadable',
              'unreadable scheduled member of ' .. KEYS[1] .. ': ' .. problem .. '; its bytes are in field spool_member',
              'spool_member', member)
          end
          redis.call('ZREM', KEYS[1], member)
        end
        return #due
        """#)

    /// Takes a failed job out of the pending list and either schedules its retry or
    /// dead-letters it, atomically.
    ///
    /// KEYS: source stream, schedule zset, dead-letter stream.
    /// ARGV: group, entry id, from-retry-stream (0/1), action ('retry'|'dead'), due ms,
    /// field, value, ... (the job's fields for the retry, or the dead-letter record).
    /// Returns 0 when the entry is no longer pending and still in the stream (another worker
    /// holds it: nothing done), or is a retry-stream entry no longer pending (settled already),
    /// else 1. An entry deleted from the main stream is written all the same: a lease
    /// extension (`XCLAIM`) of a deleted entry drops it from the pending list, and the job
    /// would otherwise be lost when its handler fails. A retry-stream entry leaves its stream
    /// only when it is settled: acknowledged and deleted by the worker that finished it (the
    /// `fetch` script, or the acknowledging transaction), or by this script, run a second
    /// time (the worker sends it again when the reply of the first was lost); no trim or
    /// cap touches a retry stream. Written again, it would schedule a second retry or write
    /// a second dead letter.
    ///
    /// The retry or dead letter is written before the acknowledgement: Redis does not undo a
    /// script's writes when a later command fails, so acknowledging first lost the job when
    /// the write was refused (a key of another type, an ACL, out of memory). Now a refusal
    /// leaves the entry pending, and the worker sends the script again.
    static let fail = RedisScript(#"""
        if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then
          -- still in the stream: another worker holds it (or finished it), nothing to do
          if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) > 0 then return 0 end
          -- a retry-stream entry is deleted only once settled (acknowledged as done, or this
          -- script's own XACK and XDEL, run before): nothing is left to do
          if ARGV[3] == '1' then return 0 end
          -- deleted (the hard cap, an XDEL), and gone from the pending list with it once a
          -- lease extension claimed it: this worker's copy is the job's last; write it.
          -- (One that another worker finished and whose entry is gone meanwhile comes back
          -- as a retry that the dedup set skips.)
        end
        local fields = {}
        for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
        if ARGV[4] == 'retry' then
          redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), cmsgpack.pack(fields))
        else
          redis.call('XADD', KEYS[3], '*', unpack(fields))
        end
        redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
        if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
        return 1
        """#)

    /// Claims pending entries: those of a consumer whose heartbeat lapsed (KEYS[2] absent),
    /// or, with no consumer named, those idle longer than the visibility timeout.
    ///
    /// KEYS: stream, heartbeat key of the consumer (or the stream again).
    /// ARGV: group, claimer, min idle ms, count, consumer ('' = any), suspects allowed (0/1).
    /// Returns `{ {id, deliveries, fields}... }` for the claimed entries (fields nil when the
    /// entry was deleted), and deletes the lapsed consumer once it has nothing pending.
    ///
    /// An entry already delivered twice and never finished is a suspect: it may be what kills
    /// workers. A call claims either entries that are not suspects, or (when suspects are
    /// allowed and it met one before any other entry) one suspect and nothing else, so the
    /// worker can run a suspect alone and no other job dies with it.
    static let reclaim = RedisScript(#"""
        local group, me, minIdle, count, owner = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
        local suspectsAllowed = ARGV[6] == '1'
        if owner ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return {} end
        local pending
        if owner ~= '' then
          pending = redis.call('XPENDING', KEYS[1], group, 'IDLE', minIdle, '-', '+', count, owner)
        else
          pending = redis.call('XPENDING', KEYS[1], group, 'IDLE', minIdle, '-', '+', count)
        end
        local out, skipped = {}, 0
        local function claim(p)
          local claimed = redis.call('XCLAIM', KEYS[1], group, me, minIdle, p[1])
          local entry = claimed[1]
          if entry then
            out[#out + 1] = {p[1], p[4] + 1, entry[2]}
          else
            -- deleted while pending: XCLAIM dropped it from the PEL
            out[#out + 1] = {p[1], p[4] + 1, false}
          end
        end
        for _, p in ipairs(pending) do
          if p[2] ~= me then
            if p[4] >= 2 then
              if suspectsAllowed and #out == 0 and skipped == 0 then
                claim(p)
                return out
              end
              skipped = skipped + 1
            else
              claim(p)
            end
          end
        end
        if owner ~= '' and #pending < count and skipped == 0 then
          local left = redis.call('XPENDING', KEYS[1], group, '-', '+', 1, owner)
          if #left == 0 then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, owner) end
        end
        return out
        """#)

    /// Trims what every group is done with, and applies the hard cap, in one atomic step.
    ///
    /// `XTRIM MINID ~` at the oldest entry any group still needs: its oldest pending entry, or
    /// its last delivered one (kept, though done: the comparison needs no arithmetic on ids).
    /// Computed and trimmed in one script, so a group created (or moved back with `SETID`) in
    /// between cannot lose the entries it would read, as it could when the worker read the
    /// groups and trimmed in separate commands. A stream with no group is not trimmed by
    /// `MINID` (a group created later at `0` reads it all), but the hard cap applies.
    ///
    /// KEYS: stream, meta hash. ARGV: hard cap (0 = none).
    /// Returns `{entries trimmed as done, entries dropped by the cap, counter error}`; the cap's
    /// drops are added to the meta field `dropped_by_cap`, and when Redis refuses that (the key
    /// holds another type) the error's text comes back third (`""` otherwise): the entries are
    /// gone by then, and the worker must still report them lost.
    static let trim = RedisScript(#"""
        if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
        -- compares two stream ids ('ms-seq', decimal, no leading zeros) without numbers:
        -- Lua's are doubles, and ids go up to 2^64 - 1
        local function less(a, b)
          local am, as = string.match(a, '^(%d+)-(%d+)$')
          local bm, bs = string.match(b, '^(%d+)-(%d+)$')
          if #am ~= #bm then return #am < #bm end
          if am ~= bm then return am < bm end
          if #as ~= #bs then return #as < #bs end
          return as < bs
        end
        local needed = nil
        for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
          local name, last
          for i = 1, #info - 1, 2 do
            if info[i] == 'name' then name = info[i + 1] end
            if info[i] == 'last-delivered-id' then last = info[i + 1] end
          end
          local summary = redis.call('XPENDING', KEYS[1], name)
          local wants = last
          if summary[1] > 0 and less(summary[2], wants) then wants = summary[2] end
          if needed == nil or less(wants, needed) then needed = wants end
        end
        local trimmed, dropped, counter = 0, 0, ''
        if needed ~= nil then trimmed = redis.call('XTRIM', KEYS[1], 'MINID', '~', needed) end
        local cap = tonumber(ARGV[1])
        if cap > 0 then
          dropped = redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', cap)
          if dropped > 0 then
            local counted = redis.pcall('HINCRBY', KEYS[2], 'dropped_by_cap', dropped)
            if type(counted) == 'table' and counted.err then counter = counted.err end
          end
        end
        return {trimmed, dropped, counter}
        """#)

    /// Moves one dead letter back to its group's retry stream, so only that group runs it
    /// again, with its attempt count reset and the dead-letter fields removed.
    ///
    /// A dead letter that holds only part of its entry (`dead_dropped_fields` or
    /// `dead_odd_field`: an unreadable entry cut to bound its size) stays where it is:
    /// replayed, it would run as a different job.
    ///
    /// KEYS: dead-letter stream, retry stream. ARGV: dead-letter entry id.
    /// Returns the new retry entry id, false when the dead letter does not exist, or -1 when
    /// it was kept back because it is cut.
    static let replay = RedisScript(#"""
        local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
        if #found == 0 then return false end
        local raw, fields = found[1][2], {}
        for i = 1, #raw, 2 do
          local name = raw[i]
          if name == 'dead_dropped_fields' or name == 'dead_odd_field' then return -1 end
          -- attempt is left out: reset to 1, its default (docs/wire-format.md)
          if string.sub(name, 1, 5) ~= 'dead_' and string.sub(name, 1, 12) ~= 'spool_first_' and name ~= 'attempt' then
            fields[#fields + 1] = name
            fields[#fields + 1] = raw[i + 1]
          end
        end
        -- nothing but Spool's own bookkeeping: no job to put back (XADD would refuse it)
        if #fields == 0 then return -2 end
        local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
        redis.call('XDEL', KEYS[1], ARGV[1])
        return id
        """#)

    /// In one round trip: acknowledge finished jobs and record them in the dedup set,
    /// atomically, then read up to `count` new entries — due retries first — flagging those
    /// the group already completed. With `count` 0 it only acknowledges. Used for reads with
    /// due retries, for acknowledging alone, and on a cluster; a busy worker's other reads go
    /// without Lua (`SubscriptionRunner.acknowledgeThenRead`).
    ///
    /// KEYS: main stream, retry stream, done zset.
    /// ARGV: group, consumer, count, read retries (0/1), dedup (0/1), now ms, forget-before ms,
    /// main ack count, retry ack count, main entry ids..., retry entry ids..., done job ids...
    /// Returns `{main entries, main flags, retry entries, retry flags}`: the entries as
    /// `XREADGROUP` gives them (`{id, fields}`), passed through untouched, and one duplicate
    /// flag (0/1) per entry, in the same order. (One table per read rather than one per entry:
    /// Redis spends less per entry, and the worker parses two replies fewer per entry.)
    static let fetch = RedisScript(#"""
        local group, me, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
        local dedup, now, forget = ARGV[5] == '1', ARGV[6], tonumber(ARGV[7])
        local nmain, nretry = tonumber(ARGV[8]), tonumber(ARGV[9])
        local first = 10
        -- calls `call(i, j)` for runs of at most 1000 of from...to: unpack fails at about 8000
        -- values (Lua's C stack), and a busy worker may acknowledge more than that at once
        local function each(from, to, call)
          local i = from
          while i <= to do
            local j = math.min(i + 999, to)
            call(i, j)
            i = j + 1
          end
        end
        each(first, first + nmain - 1, function(i, j) redis.call('XACK', KEYS[1], group, unpack(ARGV, i, j)) end)
        each(first + nmain, first + nmain + nretry - 1, function(i, j)
          redis.call('XACK', KEYS[2], group, unpack(ARGV, i, j))
          redis.call('XDEL', KEYS[2], unpack(ARGV, i, j))
        end)
        local ids = first + nmain + nretry
        if forget > 0 and ids <= #ARGV then
          -- one ZADD per 500 members (unpack's stack stays small)
          local members = {}
          for i = ids, #ARGV do
            members[#members + 1] = now
            members[#members + 1] = ARGV[i]
            if #members == 1000 or i == #ARGV then
              redis.call('ZADD', KEYS[3], unpack(members))
              members = {}
            end
          end
          redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. forget)
        end
        local out = {{}, {}, {}, {}}
        local function take(stream, at, n)
          if n <= 0 then return 0 end
          local reply = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', n, 'STREAMS', stream, '>')
          if not reply then return 0 end
          local entries = reply[1][2]
          -- the dedup verdicts of the whole read in one ZMSCORE: ids[k] is entry k's job id
          -- in lowercase, as the done set spells it (an entry may write it in either case),
          -- or '' (no id: never a duplicate, as no member is empty)
          local scores = {}
          if dedup then
            local ids = {}
            for k, entry in ipairs(entries) do
              local fields, id = entry[2], ''
              if fields then
                for i = 1, #fields - 1, 2 do
                  if fields[i] == 'id' then id = string.lower(fields[i + 1]); break end
                end
              end
              ids[k] = id
            end
            each(1, #ids, function(i, j)
              local part = redis.call('ZMSCORE', KEYS[3], unpack(ids, i, j))
              for k = 1, #part do scores[i + k - 1] = part[k] end
            end)
          end
          local flags = {}
          for k = 1, #entries do
            if scores[k] then flags[k] = 1 else flags[k] = 0 end
          end
          out[at], out[at + 1] = entries, flags
          return #entries
        end
        local got = 0
        if ARGV[4] == '1' then got = take(KEYS[2], 3, count) end
        take(KEYS[1], 1, count - got)
        return out
        """#)
}
