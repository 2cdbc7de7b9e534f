package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("object not found")

const (
	// callTimeout bounds every store call that moves a small, known amount of data, so that
	// a store that stopped answering fails the activity instead of hanging it.
	callTimeout = 5 * time.Minute
	// streamPartSize is what minio-go buffers per multipart part when the size is unknown
	// (one buffer per upload in flight, i.e. per exporting worker). Its default for unknown
	// sizes is ~537 MiB per upload; 16 MiB keeps memory flat and still allows objects up to
	// 156 GiB (10,000 parts), which maxPartBytes stays under.
	streamPartSize = 16 << 20
)

// smallPut is how much of an upload of unknown size Put reads before it decides how to
// send it: what ends within it (most files of a small database: DDL, manifests, the
// Parquet of small tables) goes in one request of known size, with no 16 MiB part
// buffer. A fleet archives many small databases at once; each of its files once held a
// part buffer of its own. A variable for the tests.
var smallPut = 1 << 20

// readAhead holds the buffers that Put reads ahead into.
var readAhead = sync.Pool{New: func() any { return new([]byte) }}

// transports are shared by every Store of the process, one per scheme: a Store is opened
// for each activity, and one with a transport of its own left that transport's idle
// connections (two goroutines and two buffers each) open for 90 s after each archive;
// at a fleet's pace, hundreds of them.
var transports = struct {
	sync.Mutex
	byTLS map[bool]http.RoundTripper
}{byTLS: map[bool]http.RoundTripper{}}

func sharedTransport(secure bool) (http.RoundTripper, error) {
	transports.Lock()
	defer transports.Unlock()
	if t, ok := transports.byTLS[secure]; ok {
		return t, nil
	}
	t, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	transports.byTLS[secure] = t
	return t, nil
}

// StoreConfig says where archives go. The secret key is only handed to minio-go: it never
// appears in errors or logs.
type StoreConfig struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Bucket    string
	Prefix    string // every key lives under it
	Secure    bool   // HTTPS
	Region    string
}

// Store is an S3-compatible bucket seen through a key prefix.
type Store struct {
	client *minio.Client
	bucket string
	prefix string
	region string
}

// ObjectInfo describes a stored object. Key is relative to the store's prefix.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
}

// NewStore connects lazily: it checks the configuration but makes no request.
func NewStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("store: endpoint and bucket are required")
	}
	transport, err := sharedTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", cfg.Endpoint, err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", cfg.Endpoint, err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return nil, fmt.Errorf("store prefix: %w", err)
		}
		prefix += "/"
	}
	return &Store{client: client, bucket: cfg.Bucket, prefix: prefix, region: cfg.Region}, nil
}

// Bucket is the bucket the store writes to.
func (s *Store) Bucket() string { return s.bucket }

// FullKey is the key as the bucket sees it, prefix included (for records and humans).
func (s *Store) FullKey(key string) string { return s.prefix + key }

// URL is where key lies, as any S3 client takes it: s3://<bucket>/<prefix><key>. A plain
// GET of that bucket and key finds the object; for a folder (a key ending in "/"), the
// objects under it. Records, notices and the CLI print this, never a key relative to the
// store's prefix, which no one outside retire could follow.
func (s *Store) URL(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

// ParseURL splits an s3://<bucket>/<key> URL, as URL writes it, into its bucket and key.
func ParseURL(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("not an s3://<bucket>/<key> URL: %q", u)
	}
	return bucket, key, nil
}

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("store: bucket %s: %w", s.bucket, err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
	if err != nil {
		// Another worker may have created it in between.
		if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			return nil
		}
		return fmt.Errorf("store: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Put uploads r to key and returns the SHA-256 (hex) and length of what was uploaded, both
// computed while streaming. size -1 means unknown: what ends within smallPut bytes is sent
// as one object of known size; anything longer is streamed in parts and bounded only by
// ctx, since a large table can take longer than any fixed timeout.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (string, int64, error) {
	if err := checkKey(key); err != nil {
		return "", 0, err
	}
	if size < 0 {
		buf := readAhead.Get().(*[]byte)
		defer readAhead.Put(buf)
		if cap(*buf) < smallPut {
			*buf = make([]byte, smallPut)
		}
		head := (*buf)[:smallPut]
		n, err := io.ReadFull(r, head)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			r, size = bytes.NewReader(head[:n]), int64(n)
		case err != nil:
			return "", 0, fmt.Errorf("store: put %s: %w", s.prefix+key, err)
		default:
			r = io.MultiReader(bytes.NewReader(head), r)
		}
	}
	if size >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	// hashingReader also hides any Seeker/ReaderAt of r, so minio-go reads it exactly once,
	// in order, and the hash is the hash of the bytes sent.
	hr := &hashingReader{r: r, h: sha256.New()}
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, hr, size, minio.PutObjectOptions{
		ContentType: contentType,
		PartSize:    streamPartSize,
		// Over plain HTTP minio-go would sign a SHA-256 of every part (over HTTPS it never
		// does): a second hash of every byte, which cost as much as the one above. What
		// proves the archive is the SHA-256 above, recorded in the manifest and checked by
		// Verify against what the store gives back before anything is dropped.
		DisableContentSha256: true,
	})
	if err != nil {
		return "", 0, fmt.Errorf("store: put %s: %w", s.prefix+key, err)
	}
	if size >= 0 && hr.n != size {
		return "", 0, fmt.Errorf("store: put %s: read %d bytes, expected %d", s.prefix+key, hr.n, size)
	}
	return hex.EncodeToString(hr.h.Sum(nil)), hr.n, nil
}

// Get opens key for reading. The read is bounded by ctx only (objects can be large); it
// fails with ErrNotFound at once if the object does not exist.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	// minio-go is lazy: Stat makes the first request so a missing object is reported here
	// rather than on the first Read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.wrap("get", key, err)
	}
	return obj, nil
}

// Stat describes key.
func (s *Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	info, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.wrap("stat", key, err)
	}
	return s.info(info), nil
}

// List returns every object under prefix, recursively.
func (s *Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var out []ObjectInfo
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("store: list %s: %w", s.prefix+prefix, obj.Err)
		}
		out = append(out, s.info(obj))
	}
	return out, nil
}

// Remove deletes one object; a missing object is not an error.
func (s *Store) Remove(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		return s.wrap("remove", key, err)
	}
	return nil
}

// RemovePrefix deletes every object under prefix, e.g. a half-written archive. An empty
// prefix is refused: it would empty the whole store.
func (s *Store) RemovePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return errors.New("store: refusing to remove an empty prefix")
	}
	objs, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ch := make(chan minio.ObjectInfo, len(objs))
	for _, o := range objs {
		ch <- minio.ObjectInfo{Key: s.prefix + o.Key}
	}
	close(ch)
	for e := range s.client.RemoveObjects(ctx, s.bucket, ch, minio.RemoveObjectsOptions{}) {
		if e.Err != nil {
			return fmt.Errorf("store: remove %s: %w", e.ObjectName, e.Err)
		}
	}
	return nil
}

func (s *Store) info(o minio.ObjectInfo) ObjectInfo {
	return ObjectInfo{
		Key:          strings.TrimPrefix(o.Key, s.prefix),
		Size:         o.Size,
		ETag:         o.ETag,
		LastModified: o.LastModified,
	}
}

func (s *Store) wrap(op, key string, err error) error {
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NotFound" {
		return fmt.Errorf("store: %s %s: %w", op, s.prefix+key, ErrNotFound)
	}
	return fmt.Errorf("store: %s %s: %w", op, s.prefix+key, err)
}

// checkKey refuses keys that different stores would resolve differently.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") {
		return fmt.Errorf("store: invalid key %q", key)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(key, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("store: invalid key %q", key)
		}
	}
	return nil
}

type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	return n, err
}
