// score-video --sheet: a contact sheet of the worst-scored videos - the real videos with the highest fake scores,
// the fake videos with the lowest, and (without labels) the highest-scored videos - each row showing the video, its
// score, and the frames whose scores drove it (the frame with the face box, then the face crop and its score).
// Built on DFKImaging's ContactSheet (as synth-sbi's --contact-sheet); kept only when --sheet is given.
import DFKImaging
import DFKRecords
import Foundation

struct WorstVideosSheet {
    enum Group: Int, CaseIterable {
        case realScoredFake = 0, fakeScoredReal, unlabelled
        var title: String {
            switch self {
            case .realScoredFake: return "REAL videos with the highest fake scores"
            case .fakeScoredReal: return "FAKE videos with the lowest fake scores"
            case .unlabelled: return "unlabelled videos with the highest fake scores"
            }
        }
        var short: String {
            switch self { case .realScoredFake: return "real, scored fake"; case .fakeScoredReal: return "fake, scored real"; case .unlabelled: return "no label" }
        }
    }
    /// A frame of a scored video: the image, its faces (box and score, after the small-face rule), its score.
    struct Frame {
        var index: Int
        var image: Image
        var faces: [(box: Box, crop: Image, score: Double)]
        var score: Double?
    }
    struct Row { var badness: Double; var tiles: [Image] }

    let videosPerGroup: Int, framesPerVideo: Int
    let sheet: ContactSheet
    private var rows: [[Row]] = Array(repeating: [], count: Group.allCases.count)

    init(videosPerGroup: Int, framesPerVideo: Int, tile: Int = 160) {
        self.videosPerGroup = videosPerGroup; self.framesPerVideo = framesPerVideo
        sheet = ContactSheet(tile: tile, columns: 1 + 2 * framesPerVideo)
    }

    /// Whether a video of this label and score would enter the sheet (so that frames are kept only then).
    func wants(label: Int?, score: Double?) -> Bool {
        guard let score, videosPerGroup > 0 else { return false }
        let (g, badness) = WorstVideosSheet.place(label: label, score: score)
        return rows[g.rawValue].count < videosPerGroup || badness > rows[g.rawValue].last!.badness
    }
    static func place(label: Int?, score: Double) -> (Group, Double) {
        switch label {
        case 0: return (.realScoredFake, score)
        case 1: return (.fakeScoredReal, 1 - score)
        default: return (.unlabelled, score)
        }
    }

    /// Adds a scored video: its row shows the frames that pushed the score the wrong way (a real video's highest
    /// frame scores, a fake's lowest), each as the frame with the deciding face boxed and that face's crop.
    mutating func add(video: String, label: Int?, score: Double, frames: [Frame]) throws {
        guard wants(label: label, score: score) else { return }
        let (group, badness) = WorstVideosSheet.place(label: label, score: score)
        let withScore = frames.filter { $0.score != nil && !$0.faces.isEmpty }
        // A video without a scored face got the no-face score: no frame drove it, so it has nothing to show.
        guard !withScore.isEmpty else { return }
        let ordered = withScore.sorted { group == .fakeScoredReal ? $0.score! < $1.score! : $0.score! > $1.score! }
        let tile = sheet.tile
        let info = try Image.canvas(width: tile, height: tile, color: PlotColor(40, 40, 40))
        var lines = [group.short, "", String(format: "video score %.3f", score)]   // line 2: the rank, drawn by render
        // The file name, wrapped to the tile.
        var name = (video as NSString).lastPathComponent
        while !name.isEmpty && lines.count < 8 {
            var n = name.count
            while n > 1 && Image.textSize(String(name.prefix(n)), scale: 0.4).width > tile - 10 { n -= 1 }
            lines.append(String(name.prefix(n))); name = String(name.dropFirst(n))
        }
        lines.append("\(withScore.count)/\(frames.count) frames w/ face")
        let colors: [PlotColor] = [group == .fakeScoredReal ? PlotColor(255, 120, 120) : PlotColor(120, 170, 255), .white, .white]
        for (k, l) in lines.enumerated() {
            try info.text(l, x: 6, y: 20 + 18 * k, scale: 0.42, color: k < colors.count ? colors[k] : PlotColor(200, 200, 200))
        }
        var tiles = [info]
        for f in ordered.prefix(framesPerVideo) {
            // The face whose score is the frame's (the maximum under the max rule; the closest otherwise).
            let face = f.faces.min { abs($0.score - f.score!) < abs($1.score - f.score!) }!
            let frame = f.image.clone()
            let t = max(2, Int((Double(max(frame.width, frame.height)) / Double(tile) * 2).rounded()))
            try frame.polyline([(face.box.left, face.box.top), (face.box.right, face.box.top), (face.box.right, face.box.bottom),
                                (face.box.left, face.box.bottom)], color: PlotColor(255, 220, 0), thickness: t, closed: true)
            let ft = try sheet.fitted(frame)
            try caption(ft, "frame \(f.index)", String(format: "frame %.3f", f.score!))
            let ct = try sheet.fitted(face.crop)
            try caption(ct, "face crop", String(format: "face %.3f", face.score))
            tiles += [ft, ct]
        }
        var list = rows[group.rawValue]
        list.append(Row(badness: badness, tiles: tiles))
        list.sort { $0.badness > $1.badness }
        rows[group.rawValue] = Array(list.prefix(videosPerGroup))
    }

    /// Two captions on a dark band at the top and bottom of a tile.
    private func caption(_ img: Image, _ top: String, _ bottom: String) throws {
        try img.fillRect(x: 0, y: 0, width: img.width, height: 18, color: .black, alpha: 0.6)
        try img.text(top, x: 4, y: 13, scale: 0.4, color: .white)
        try img.fillRect(x: 0, y: img.height - 20, width: img.width, height: 20, color: .black, alpha: 0.6)
        try img.text(bottom, x: 4, y: img.height - 6, scale: 0.45, color: PlotColor(255, 230, 120))
    }

    var isEmpty: Bool { rows.allSatisfy(\.isEmpty) }

    /// The sheet: a title band, then per group a heading row and its videos, worst first.
    func render(title: String) throws -> Image {
        var s = sheet
        let tile = sheet.tile
        for g in Group.allCases where !rows[g.rawValue].isEmpty {
            let heading = try Image.canvas(width: tile, height: tile, color: PlotColor(20, 20, 20))
            var words = g.title.split(separator: " ").map(String.init), lines: [String] = []
            while !words.isEmpty {
                var l = words.removeFirst()
                while let w = words.first, Image.textSize(l + " " + w, scale: 0.5).width < tile - 10 { l += " " + w; words.removeFirst() }
                lines.append(l)
            }
            for (k, l) in lines.enumerated() { try heading.text(l, x: 6, y: 30 + 22 * k, scale: 0.5, color: .white) }
            try s.add([heading])
            for (k, r) in rows[g.rawValue].enumerated() {
                let info = r.tiles[0].clone()
                try info.text("#\(k + 1) of the \(rows[g.rawValue].count) worst", x: 6, y: 38, scale: 0.42, color: .white)
                try s.add([info] + r.tiles.dropFirst())
            }
        }
        let body = try s.render()
        let band = 30
        let out = try Image.canvas(width: body.width, height: body.height + band, color: .black)
        try out.paste(body, x: 0, y: band)
        try out.text(title, x: 8, y: 21, scale: 0.5, color: .white)
        return out
    }
}
