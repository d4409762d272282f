import CZlib
import NIOCore

/// Inflates a whole gzip or zlib ("deflate") body with a ceiling on what it may grow to: an
/// endpoint that compresses without being asked (we send no `Accept-Encoding`) is still read, and
/// a decompression bomb stops at `limit` bytes instead of filling memory.
enum Inflater {
    enum Failure: Error, Sendable {
        /// The inflated body would pass the limit.
        case tooLarge
        /// Not valid gzip/zlib data, or cut short.
        case corrupt
    }

    static func inflate(_ input: ByteBuffer, limit: Int) throws(Failure) -> ByteBuffer {
        // zlib keeps a pointer back to its z_stream and checks it on every call: the stream
        // lives at one address from init to end (an `&var` argument promises no such thing).
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        guard evalengine_inflate_init(stream) == Z_OK else { throw .corrupt }
        defer { inflateEnd(stream) }
        var output = ByteBuffer()
        let status: Int32 = input.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return Z_DATA_ERROR }
            stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(raw.count)
            while true {
                // Straight into the buffer's own memory, 64 KiB at a time.
                var code: Int32 = Z_OK
                let produced = output.writeWithUnsafeMutableBytes(minimumWritableBytes: 64 * 1024) { out in
                    let room = min(out.count, 64 * 1024)
                    stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = uInt(room)
                    code = CZlib.inflate(stream, Z_NO_FLUSH)
                    return room - Int(stream.pointee.avail_out)
                }
                if output.readableBytes > limit { return Z_MEM_ERROR }
                if code == Z_STREAM_END { return Z_STREAM_END }
                if code != Z_OK { return code }
                if stream.pointee.avail_in == 0 && produced == 0 { return Z_BUF_ERROR }  // cut short
            }
        }
        switch status {
        case Z_STREAM_END: return output
        case Z_MEM_ERROR: throw .tooLarge
        default: throw .corrupt
        }
    }
}
