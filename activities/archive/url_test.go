package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
)

// The URLs an export reports name the bucket and the key as the bucket sees it, prefix
// included: a plain GET finds the manifest.
func TestExportReportsURLsAPlainGetFollows(t *testing.T) {
	s, _ := testStore(t)
	res := export(t, s, testSource(), ExportOptions{})
	require.Equal(t, "s3://retire-test/team-a/"+testPath, res.URL)
	require.Equal(t, "s3://retire-test/team-a/"+testPath+ManifestName, res.ManifestURL)

	bucket, key, err := ParseURL(res.ManifestURL)
	require.NoError(t, err)
	obj, err := s.client.GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	data, err := io.ReadAll(obj)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	require.Equal(t, res.ManifestSHA256, hex.EncodeToString(sum[:]))
}

func TestParseURL(t *testing.T) {
	bucket, key, err := ParseURL("s3://b/team-a/local/shop/run/")
	require.NoError(t, err)
	require.Equal(t, "b", bucket)
	require.Equal(t, "team-a/local/shop/run/", key)
	for _, bad := range []string{"", "s3://", "s3://b", "s3://b/", "s3:///k", "https://b/k", "b/k"} {
		_, _, err := ParseURL(bad)
		require.Error(t, err, bad)
	}
}
