// Read-ahead over a sequence: up to `depth` upcoming elements are transformed on a background queue while the
// consumer works on the current one (e.g. decoding the next frames while the detector runs), in order.
import Foundation

public final class Prefetch<Base: Sequence, T>: Sequence, IteratorProtocol {
    private final class Slot: @unchecked Sendable {
        var value: T?
        let ready = DispatchSemaphore(value: 0)
    }
    private var base: Base.Iterator
    private var slots: [Slot] = []
    private var exhausted = false
    private let depth: Int
    private let transform: (Base.Element) -> T
    private let queue = DispatchQueue(label: "dfk.prefetch", attributes: .concurrent)

    public init(_ base: Base, depth: Int = 2, transform: @escaping (Base.Element) -> T) {
        self.base = base.makeIterator()
        self.depth = Swift.max(1, depth)
        self.transform = transform
    }

    private func topUp() {
        while !exhausted && slots.count < depth {
            guard let item = base.next() else { exhausted = true; break }
            let slot = Slot()
            slots.append(slot)
            let f = transform
            queue.async {
                slot.value = f(item)
                slot.ready.signal()
            }
        }
    }

    public func next() -> T? {
        topUp()
        guard !slots.isEmpty else { return nil }
        let slot = slots.removeFirst()
        topUp()
        slot.ready.wait()
        return slot.value
    }
}

/// Files being written in the background for one record; the record goes out only once they are complete.
public final class PendingWrites: @unchecked Sendable {
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var firstError: Error?
    public init() {}

    public func add(_ work: @escaping () throws -> Void) {
        group.enter()
        DispatchQueue.global().async {
            defer { self.group.leave() }
            do { try work() } catch {
                self.lock.lock()
                if self.firstError == nil { self.firstError = error }
                self.lock.unlock()
            }
        }
    }
    /// Waits for every write; throws the first failure.
    public func wait() throws {
        group.wait()
        lock.lock(); defer { lock.unlock() }
        if let e = firstError { throw e }
    }
}

/// A thread-safe counter.
public final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    public init() {}
    public func add(_ k: Int = 1) { lock.lock(); n += k; lock.unlock() }
    public var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
