// glibc's allocator returns every block above 128 KiB to the kernel on free (mmap/munmap), so image pipelines
// that allocate and free frame-sized buffers thousands of times a second spend a third of their time in page
// faults. Keeping such blocks in the heap (up to 256 MiB of slack) removes that cost: measured 110 -> 183 SBI
// pairs/s per core. Only the image-synthesis tools opt in: for libtorch training the default allocator is both
// faster and leaner (EfficientNet-B4 step 4.3 s / 6.0 GB peak, against 4.8 s / 7.7 GB with this setting).
// Environment variables MALLOC_MMAP_THRESHOLD_ etc. still win when a user sets them; DFK_ALLOCATOR=system
// disables the tuning.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

public enum Allocator {
    public static func reuseLargeBlocks() {
        #if canImport(Glibc)
        let env = ProcessInfo.processInfo.environment
        guard env["MALLOC_MMAP_THRESHOLD_"] == nil, env["DFK_ALLOCATOR"] != "system" else { return }
        // mallopt is declared in <malloc.h>, which Swift's Glibc module does not import: look it up.
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(sym, to: MallOpt.self)
        let M_TRIM_THRESHOLD: Int32 = -1, M_TOP_PAD: Int32 = -2, M_MMAP_THRESHOLD: Int32 = -3
        _ = mallopt(M_MMAP_THRESHOLD, 64 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 256 << 20)
        _ = mallopt(M_TOP_PAD, 64 << 20)
        #endif
    }
}
