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
    init(_ it: I) { iterator = it }
}

public func orderedParallelMap<S: Sequence, T>(
    _ input: S, workers: Int, window: Int? = nil,
    transform: @escaping (_ worker: Int, _ item: S.Element) -> T,
    emit: (T) throws -> Void
) throws {
    let workers = max(1, workers)
    if workers == 1 {
        for item in input { try emit(transform(0, item)) }
        return
    }
    let window = max(window ?? workers * 4, workers)
    let s = MapState<S.Iterator, T>(input.makeIterator())
    let cond = s.cond

    for w in 0..<workers {
        let t = Thread {
            while true {
                cond.lock()
                while !s.stop && !s.exhausted && s.nextIndex - s.emitted >= window { cond.wait() }
                if s.stop || s.exhausted { cond.unlock(); return }
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

    while true {
        cond.lock()
        while s.results[s.emitted] == nil && !(s.exhausted && s.emitted >= s.nextIndex) { cond.wait() }
        guard let r = s.results.removeValue(forKey: s.emitted) else { cond.unlock(); return }
        s.emitted += 1
        cond.broadcast()
        cond.unlock()
        do { try emit(r) } catch {
            cond.lock(); s.stop = true; cond.broadcast(); cond.unlock()
            throw error
        }
    }
}
