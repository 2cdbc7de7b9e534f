package archive

import (
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/compress"
	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// zstdCodec is zstd at its fastest level with entropy coding of literals always on.
// parquet-go's codec leaves literals raw at the fastest and default levels when a block
// has no matches, which is most pages of random-looking text: sysbench's CHAR columns were
// stored at 100% of their size. Huffman-coding the literals costs little (huff0 runs at
// GB/s) and, measured on 1M sysbench rows, makes the parts ~40% smaller, which the upload,
// the store and the SHA-256 of every part also gain from.
type zstdCodec struct {
	encoders sync.Pool
	decode   pqzstd.Codec
}

var _ compress.Codec = (*zstdCodec)(nil)

var partCodec = &zstdCodec{}

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	e, _ := c.encoders.Get().(*zstd.Encoder)
	if e == nil {
		var err error
		e, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithAllLitEntropyCompression(true),
			zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderCRC(false),
			zstd.WithLowerEncoderMem(true),
		)
		if err != nil {
			return dst[:0], err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	c.encoders.Put(e)
	return out, nil
}

func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) { return c.decode.Decode(dst, src) }
