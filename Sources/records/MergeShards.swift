// records merge-shards: the outputs of `--shard K/N` runs back in the order of their input (docs/scale-out.md), the
// inverse of the tools' --shard.
import ArgumentParser
import DFKRecords
import DFKTool

struct MergeShards: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-shards",
        abstract: "Merge the outputs of --shard K/N runs into the order of their input: the lines of an unsharded run.",
        discussion: """
        INPUT holds the records the shards were made from, in order. Each shard output line is grouped by its --key \
        field (a string as is, another value as its JSON text) and the groups are written in the order their key \
        first appears in INPUT, each line byte for byte as its shard wrote it. Lines whose key is not in INPUT (or \
        that have none) follow at the end, in shard order. A key found in two shard files is an error: shards must \
        be disjoint. Unreadable lines are reported (FILE:LINE) and left out; the run then exits 1.
        """)

    @Option(help: "Record field that identifies an input (e.g. video).")
    var key: String
    @Argument(help: "The records the shards were made from.")
    var input: String
    @Argument(help: "The shards' outputs.")
    var shards: [String]

    func validate() throws {
        if shards.isEmpty { throw ValidationError("name at least one shard output after INPUT") }
    }

    func run() throws {
        func keyOf(_ r: Record) -> String? { r[key].map { $0.stringValue ?? JSON.serialize($0) } }
        var order: [String] = []
        try RecordInput.each(input) { r, _, _ in if let k = keyOf(r) { order.append(k) } }
        var groups: [String: [[UInt8]]] = [:]
        var owner: [String: Int] = [:]                      // key -> the shard (argument position) that has it
        var ownedInOrder = [[String]](repeating: [], count: shards.count)   // each shard's keys, first appearance first
        var rest: [[UInt8]] = []
        for (i, path) in shards.enumerated() {
            try RecordInput.each(path) { r, line, place in
                guard let k = keyOf(r) else { rest.append(line); return }
                if let o = owner[k], o != i {
                    throw ToolError("\(place): \(key) \(k) is also in \(shards[o])\(o < i && shards[o] == path ? ", named twice" : "") (shards overlap)")
                }
                if owner[k] == nil { owner[k] = i; ownedInOrder[i].append(k) }
                groups[k, default: []].append(line)
            }
        }
        var out: [UInt8] = []
        func emit(_ lines: [[UInt8]]) throws {
            for l in lines { out.append(contentsOf: l); out.append(0x0A) }
            if out.count > 1 << 16 { try StandardOutput.write(out); out.removeAll(keepingCapacity: true) }
        }
        for k in order { if let g = groups.removeValue(forKey: k) { try emit(g) } }
        for keys in ownedInOrder { for k in keys { if let g = groups.removeValue(forKey: k) { try emit(g) } } }
        try emit(rest)
        try StandardOutput.write(out)
    }
}
