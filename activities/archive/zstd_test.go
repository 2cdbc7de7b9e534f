package archive

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

// sysbenchPage is a PLAIN-encoded BYTE_ARRAY page of sysbench `c` values (4-byte length,
// then 11-digit groups joined by "-"), as parquet-go hands it to the codec.
func sysbenchPage(size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var page []byte
	for len(page) < size {
		var v []byte
		for g := 0; g < 10; g++ {
			if g > 0 {
				v = append(v, '-')
			}
			v = fmt.Appendf(v, "%011d", r.Int64N(99999999999))
		}
		page = binary.LittleEndian.AppendUint32(page, uint32(len(v)))
		page = append(page, v...)
	}
	return page
}

func TestZstdCodecRoundTrips(t *testing.T) {
	page := sysbenchPage(256 << 10)
	enc, err := partCodec.Encode(nil, page)
	require.NoError(t, err)
	require.Less(t, len(enc), len(page)*6/10, "literals are entropy-coded")
	dec, err := partCodec.Decode(nil, enc)
	require.NoError(t, err)
	require.Equal(t, page, dec)
}

// BenchmarkPageCodecs compares zstd settings on sysbench text pages: the MB/s and the
// ratio (compressed/original) it reports are what chose zstdCodec's settings.
func BenchmarkPageCodecs(b *testing.B) {
	page := sysbenchPage(256 << 10)
	for _, tc := range []struct {
		name string
		opts []zstd.EOption
	}{
		{"fastest", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest)}},
		{"fastest+literals", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithAllLitEntropyCompression(true)}},
		{"default", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault)}},
		{"default+literals", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithAllLitEntropyCompression(true)}},
		{"better", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedBetterCompression)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e, err := zstd.NewWriter(nil, append(tc.opts, zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false))...)
			require.NoError(b, err)
			var out []byte
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				out = e.EncodeAll(page, out[:0])
			}
			b.ReportMetric(float64(len(out))/float64(len(page)), "ratio")
		})
	}
}
