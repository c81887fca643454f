// records: filters over NDJSON records that need no images and no tensors (split, merge, summarise). Every key and
// number text of a record passes through as read; one command per file.
import ArgumentParser
import DFKTool

struct Records: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "records",
        abstract: "Filters over NDJSON records: one record per face, shards merged back into input order, a per-video faces summary.",
        subcommands: [SplitFaces.self, MergeShards.self, FacesSummary.self])
}

ToolMain.run(Records.self)
