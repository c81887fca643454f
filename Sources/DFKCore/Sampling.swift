// Evenly spaced picks: the frame rule of the papers' protocols (SBI, DeepfakeBench: N frames of a video), used for
// decoded videos (DFKImaging's FrameSampling) and for datasets released as frame sequences (index-dataset).

public enum EvenSampling {
    /// N sorted, distinct indices from 0 to count - 1: numpy's int(linspace(0, count - 1, N)) (step = (count - 1) /
    /// (N - 1), the last pinned to count - 1, then truncated); every index when count <= N.
    public static func indices(count: Int, n: Int) -> [Int] {
        guard count > 0, n > 0 else { return [] }
        if n == 1 { return [0] }
        let step = Double(count - 1) / Double(n - 1)
        var out: [Int] = []
        out.reserveCapacity(n)
        for i in 0..<n {
            let v = i == n - 1 ? count - 1 : Int(Double(i) * step)
            if out.last != v { out.append(v) }
        }
        return out
    }
}
