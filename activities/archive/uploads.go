package archive

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// AbortUploads aborts the incomplete multipart uploads that interrupted writes left behind
// (a worker killed while a Parquet part streamed, a store that went away before the
// upload could be aborted): those listed under prefix, and those of each of keys. It
// returns how many it aborted. prefix and keys are relative to the store's prefix; an
// empty prefix lists nothing (it never means the whole store).
//
// Both are needed. AWS S3 (and most S3-compatible stores) list the uploads of every key
// under a prefix, but MinIO lists only the uploads of the one key named: under a prefix
// such as <path>/ it lists none. Hence keys: the exact keys that may have been written.
//
// An incomplete upload holds storage (and, on S3, costs money) but is no object: no
// listing, GET or Verify ever sees it, so it never makes an archive look complete.
func (s *Store) AbortUploads(ctx context.Context, prefix string, keys ...string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	type upload struct{ key, id string }
	var found []upload
	list := func(p string, exact bool) error {
		full := s.prefix + p
		for u := range s.client.ListIncompleteUploads(ctx, s.bucket, full, true) {
			if u.Err != nil {
				return fmt.Errorf("store: list incomplete uploads of %s: %w", full, u.Err)
			}
			if u.UploadID == "" || !strings.HasPrefix(u.Key, full) || (exact && u.Key != full) {
				continue
			}
			if up := (upload{u.Key, u.UploadID}); !slices.Contains(found, up) {
				found = append(found, up)
			}
		}
		return nil
	}
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return 0, err
		}
		if err := list(prefix, false); err != nil {
			return 0, err
		}
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return 0, err
		}
		if err := list(k, true); err != nil {
			return 0, err
		}
	}
	core := minio.Core{Client: s.client}
	n := 0
	for _, u := range found {
		err := core.AbortMultipartUpload(ctx, s.bucket, u.key, u.id)
		if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
			return n, fmt.Errorf("store: abort the incomplete upload of %s: %w", u.key, err)
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}

// maxCleanupProblems bounds what an export remembers of failed cleanups (a store that
// refuses to list uploads refuses it for every part).
const maxCleanupProblems = 5

// uploadCleaner aborts, during an export, the incomplete multipart uploads that earlier
// attempts left under the archive's path: once under the path at the start and at the end
// (stores that list by prefix), and for each streamed key just before it is written again
// (MinIO, which lists by exact key only; every part that was not finished is written again
// under the same key). When an export fails it tries once more to abort the uploads still
// open, which the upload itself could not abort (the store was gone).
//
// A cleanup that fails never fails the export: it only costs storage, while a store that
// does not let us list uploads (a narrow IAM policy) must not stop a retirement. Problems
// are reported in ExportResult.CleanupProblems.
type uploadCleaner struct {
	store *Store

	mu       sync.Mutex
	aborted  int
	problems []string
	open     map[string]bool // keys (relative to the store prefix) of streamed uploads under way
}

func newUploadCleaner(store *Store) *uploadCleaner {
	return &uploadCleaner{store: store, open: map[string]bool{}}
}

func (c *uploadCleaner) abort(ctx context.Context, prefix string, keys ...string) {
	n, err := c.store.AbortUploads(ctx, prefix, keys...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted += n
	if err != nil && ctx.Err() == nil && len(c.problems) < maxCleanupProblems {
		if msg := err.Error(); !slices.Contains(c.problems, msg) {
			c.problems = append(c.problems, msg)
		}
	}
}

// begin is called before key is streamed: it aborts what an earlier attempt left at key.
func (c *uploadCleaner) begin(ctx context.Context, key string) {
	c.abort(ctx, "", key)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open[key] = true
}

// end is called once key was uploaded.
func (c *uploadCleaner) end(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.open, key)
}

// failed aborts the uploads of keys begun and not ended, and what is listed under prefix,
// on a context of its own: ctx may be what ended the export.
func (c *uploadCleaner) failed(ctx context.Context, prefix string) {
	c.mu.Lock()
	keys := make([]string, 0, len(c.open))
	for k := range c.open {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	slices.Sort(keys)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failedCleanupTimeout)
	defer cancel()
	c.abort(ctx, prefix, keys...)
}

// failedCleanupTimeout bounds the cleanup after a failed export: the store may be gone.
const failedCleanupTimeout = 30 * time.Second

func (c *uploadCleaner) result() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aborted, slices.Clone(c.problems)
}
