// `--shard K/N`: a per-record tool processes only the records whose identity hashes to shard K of N, so N runs
// (Slurm array tasks, GNU parallel jobs, `make -j` targets) split the work and their outputs together equal an
// unsharded run (docs/scale-out.md).
import ArgumentParser
import DFKRecords

/// Shard K of N (0 <= K < N), written `K/N` on the command line.
public struct Shard: ExpressibleByArgument, Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init?(index: Int, count: Int) {
        guard count >= 1, (0..<count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// `K/N` with 0 <= K < N.
    public init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }
    public var defaultValueDescription: String { description }

    /// The shard (0..<count) an identity belongs to: FNV-1a (64 bit) of its UTF-8 bytes, then MurmurHash3's 64-bit
    /// finaliser so that the low bits are well mixed, modulo `count`. Stable across runs, machines and versions.
    public static func bucket(of identity: String, count: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in identity.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return Int(h % UInt64(count))
    }

    public func contains(identity: String) -> Bool { Shard.bucket(of: identity, count: count) == index }

    /// A record's identity: the values of the first of `keys` that it has (a string as is, another value as its
    /// JSON text); a record with none of them is identified by its whole JSON text.
    public static func identity(of record: Record, keys: [String]) -> String {
        for k in keys {
            if let v = record[k] { return v.stringValue ?? JSON.serialize(v) }
        }
        return JSON.serialize(.object(record.fields))
    }

    /// Whether this shard processes an input item. A line that cannot be read has no identity: every shard
    /// reports it, so that no shard of a fan-out over bad input ends with success.
    public func admits(_ item: Result<Record, RecordError>, keys: [String]) -> Bool {
        guard case .success(let rec) = item else { return true }
        return contains(identity: Shard.identity(of: rec, keys: keys))
    }
}

/// The `--shard` option every per-record tool shares.
public struct ShardOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Process only the records of shard K of N (0 <= K < N), chosen by a stable hash of each record's identity; the outputs of shards 0/N ... N-1/N together equal an unsharded run.",
        valueName: "K/N"))
    public var shard: Shard?

    public init() {}

    /// The items of this shard (all of them without --shard). `keys`: the record fields that identify a record for
    /// this tool, first present wins.
    public func select(_ items: AnySequence<InputItem>, keys: [String]) -> AnySequence<InputItem> {
        guard let shard else { return items }
        return AnySequence(items.lazy.filter { shard.admits($0.record, keys: keys) })
    }

    /// Positional input paths of this shard (a path is the identity of the record built from it).
    public func select(paths: [String]) -> [String] {
        guard let shard else { return paths }
        return paths.filter { shard.contains(identity: $0) }
    }

    /// The records of this shard, from positional paths (each one a record with `field` set to it) or NDJSON on stdin.
    /// `field` must be one of `keys`, so that a path and the same path on stdin fall in the same shard.
    public func records(paths: [String], field: String, keys: [String]) -> AnySequence<InputItem> {
        select(Inputs.records(paths: paths, field: field), keys: keys)
    }
}
