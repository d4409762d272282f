#include <zlib.h>

// inflateInit2 is a macro; Swift sees this function instead.
static inline int evalengine_inflate_init(z_stream *stream) {
    // 15 window bits + 32: gzip or zlib framing, detected from the header.
    return inflateInit2(stream, 15 + 32);
}
