// Deterministic randomness: every sample's draws come from a generator seeded by (run seed, sample key), so a
// sample never depends on thread scheduling or on which other samples were generated.
import DFKRecords
import Foundation

/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64. Small, fast and reproducible everywhere,
/// which Swift's SystemRandomNumberGenerator is not.
public struct SampleRNG: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// The generator of one sample: run seed combined with a key naming the sample (e.g. image path, face, variant).
    public init(seed: UInt64, key: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        self.init(seed: seed ^ (h &* 0x9E37_79B9_7F4A_7C15))
    }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = SampleRNG.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = SampleRNG.rotl(s.3, 45)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * unit() }
    /// Uniform integer in the closed range.
    public mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &self) }
    /// An odd integer uniformly from lo, lo+2, ..., hi (hi must have lo's parity).
    public mutating func odd(_ lo: Int, _ hi: Int) -> Int { lo + 2 * int(0...((hi - lo) / 2)) }
    public mutating func chance(_ p: Double) -> Bool { unit() < p }
    public mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
}

/// What a sample drew, in order, for its output record (so each sample can be explained and regenerated).
public struct Draws: Sendable {
    public private(set) var fields = JSONObject()
    public init() {}
    public mutating func set(_ key: String, _ value: JSONValue) { fields[key] = value }
    public mutating func set(_ key: String, _ value: Double) { fields[key] = .double((value * 1e6).rounded() / 1e6) }
    public mutating func set(_ key: String, _ value: Int) { fields[key] = .int(value) }
    public mutating func set(_ key: String, _ value: String) { fields[key] = .string(value) }
    public mutating func set(_ key: String, _ value: Bool) { fields[key] = .bool(value) }
    public mutating func set(_ key: String, _ values: [Double]) {
        fields[key] = .array(values.map { .double(($0 * 1e6).rounded() / 1e6) })
    }
}
