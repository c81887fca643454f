// Ordered parallel map over a stream: `workers` threads transform items, results come out in input order
// on the calling thread, and at most `window` items are in flight, so memory stays bounded for inputs of
// any length. (Dispatch's concurrentPerform needs the whole input up front; this streams.)
import Foundation

/// Shared state of one map; every field is guarded by `cond`.
private final class MapState<I: IteratorProtocol, T>: @unchecked Sendable {
    let cond = NSCondition()
    var iterator: I
    var nextIndex = 0  // next input index to hand out
    var exhausted = false
    var results: [Int: T] = [:]
    var emitted = 0  // next index to emit
    var stop = false
    var cancelled = false  // a signal arrived: no new item is handed out
    var running = 0  // worker threads still alive
    init(_ it: I) { iterator = it }
}

public func orderedParallelMap<S: Sequence, T>(
    _ input: S, workers: Int, window: Int? = nil,
    transform: @escaping (_ worker: Int, _ item: S.Element) -> T,
    emit: (T) throws -> Void
) throws {
    let workers = max(1, workers)
    if workers == 1 {
        for item in input {
            try Cancellation.check()   // a safe point between records
            try emit(transform(0, item))
        }
        try Cancellation.check()
        return
    }
    let window = max(window ?? workers * 4, workers)
    let s = MapState<S.Iterator, T>(input.makeIterator())
    let cond = s.cond

    s.running = workers
    for w in 0..<workers {
        let t = Thread {
            defer { cond.lock(); s.running -= 1; cond.broadcast(); cond.unlock() }
            while true {
                cond.lock()
                while !s.stop && !s.exhausted && s.nextIndex - s.emitted >= window { cond.wait() }
                if !s.cancelled && Cancellation.isRequested { s.cancelled = true; cond.broadcast() }
                if s.stop || s.exhausted || s.cancelled { cond.unlock(); return }
                // The input is read under the lock: sequences (e.g. a stdin reader) need not be thread-safe.
                guard let item = s.iterator.next() else {
                    s.exhausted = true
                    cond.broadcast()
                    cond.unlock()
                    return
                }
                let idx = s.nextIndex
                s.nextIndex += 1
                cond.unlock()
                let r = transform(w, item)
                cond.lock()
                s.results[idx] = r
                cond.broadcast()
                cond.unlock()
            }
        }
        t.stackSize = 8 << 20
        t.start()
    }

    // After a signal no new item starts and nothing more is emitted (an item cut short at one of its own safe
    // points would come out as an error record); the map waits for the workers to stop and throws `Cancelled`.
    while true {
        cond.lock()
        while s.results[s.emitted] == nil && !(s.exhausted && s.emitted >= s.nextIndex) && !s.cancelled {
            if Cancellation.isRequested { s.cancelled = true; cond.broadcast(); break }
            cond.wait(until: Date(timeIntervalSinceNow: 0.2))   // also notices a signal while every worker is busy
        }
        if s.cancelled || Cancellation.isRequested {
            s.cancelled = true
            cond.broadcast()
            while s.running > 0 { cond.wait() }
            cond.unlock()
            try Cancellation.check()
        }
        guard let r = s.results.removeValue(forKey: s.emitted) else {
            while s.running > 0 { cond.wait() }
            cond.unlock()
            return
        }
        s.emitted += 1
        cond.broadcast()
        cond.unlock()
        do { try emit(r) } catch {
            cond.lock(); s.stop = true; cond.broadcast()
            while s.running > 0 { cond.wait() }   // no transform outlives the map
            cond.unlock()
            throw error
        }
    }
}
