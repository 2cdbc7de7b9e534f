package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/workflows"
)

func (a *app) recordCommand() *cobra.Command {
	var runID string
	var out output
	cmd := &cobra.Command{
		Use:   "record <connection> <database>",
		Short: "Print the retirement record: who asked, who signed, every gate with its time, the archive",
		Long: `Print the retirement record of <database> as Markdown. It is the same document the
workflow writes as record.md beside the archive when it ends; while the retirement runs,
it is the record so far. Without --run-id it is the record of the latest run that got past
the plan; a later run refused in the plan is named on stderr.

-o json prints the record as the workflow writes record.json: workflow_id, run_id, request,
phase, started_at, sample_until, observe_from, observe_until, finished_at, plan, clients,
acknowledgement, cut, signoffs, objections, extensions, archive, verification, gone, gates,
outcome, error, record_keys, and who decided with what proof: signers (owners, dbas,
requester, pins with each person's ssh_keys and the owners' page's portal_keys, from,
unlisted), requester_verified, nonces, and each decision's proof and verified (empty fields
left out). Unlike status -o json it has no execution_status or pending_activities: those are
Temporal's, not the record's.

retire record verify <archive path> checks every proof of a record offline, against the keys
it pins (see retire record verify --help).`,
		Example: `  retire record local shop
  retire record local shop > shop-retirement.md
  retire record local shop -o json | jq '.gates[] | {name, state, by, at}'
  retire record local shop --run-id 0193...   # an earlier retirement of the same database
  retire record verify s3://retire-archive/local/shop/0193.../   # check every proof in record.json`,
		Args: target,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.temporal()
			if err != nil {
				return err
			}
			v, err := a.loadStatus(cmd.Context(), c, args[0], args[1], runID)
			if err != nil {
				return err
			}
			if note := v.laterNote(); note != "" {
				// On stderr: stdout is the record, often redirected to a file.
				fmt.Fprintf(a.errOut, "note: %s\n", note)
			}
			if out == outputJSON {
				return writeJSON(a.out, v.Status)
			}
			_, err = io.WriteString(a.out, workflows.Markdown(v.Status))
			return err
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().StringVar(&runID, "run-id", "", "a specific run (default: the latest that got past the plan)")
	cmd.AddCommand(a.recordVerifyCommand())
	return cmd
}

// lsReport is `retire ls -o json`.
type lsReport struct {
	Bucket     string     `json:"bucket"`
	Path       string     `json:"path"`
	Objects    []lsObject `json:"objects"`
	TotalBytes int64      `json:"total_bytes"`
	// Manifest is null, and ManifestError says why, when the manifest cannot be read.
	Manifest      *lsManifest `json:"manifest"`
	ManifestError string      `json:"manifest_error,omitempty"`
}

type lsObject struct {
	Key  string `json:"key"` // in the bucket, the store's prefix included
	URL  string `json:"url"` // s3://bucket/key
	Size int64  `json:"size"`
}

type lsManifest struct {
	Format string `json:"format"`
	Tables int    `json:"tables"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
}

// lsCommand lists an archive in the object store, without Temporal.
func (a *app) lsCommand() *cobra.Command {
	var sf storeFlags
	var out output
	ls := &cobra.Command{
		Use:   "ls <path>",
		Short: "List the objects of an archive with their sizes, and check that its manifest is there",
		Long: `List the objects of the archive at <path> in the store, with their sizes, then read its
manifest. A manifest that cannot be read is an error (exit 1) after the listing.

-o json prints {bucket, path, objects: [{key, url, size}], total_bytes, manifest: {format,
tables, rows, sha256} or null, manifest_error}; key is the full key in the bucket.`,
		Example: `  retire ls --config /etc/retire/config.yaml --store archive local/shop/0193.../
  retire ls --config deployments/config.demo.yaml local/retire_demo_shop/<run id>/
  retire ls local/shop/0193.../ -o json | jq '.objects[] | select(.size > 1e9) | .url'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			_, store, err := sf.open(ctx)
			if err != nil {
				return err
			}
			objs, err := store.List(ctx, args[0])
			if err != nil {
				return err
			}
			if len(objs) == 0 {
				return fmt.Errorf("no archive at %s in bucket %s", args[0], store.Bucket())
			}
			r := lsReport{Bucket: store.Bucket(), Path: args[0], Objects: []lsObject{}}
			for _, o := range objs {
				key := store.FullKey(o.Key)
				r.Objects = append(r.Objects, lsObject{Key: key, URL: "s3://" + store.Bucket() + "/" + key, Size: o.Size})
				r.TotalBytes += o.Size
			}
			m, sum, mErr := archive.ReadManifest(ctx, store, args[0])
			if mErr != nil {
				mErr = fmt.Errorf("%d objects, %s, but the manifest cannot be read: %w", len(objs), bytesText(r.TotalBytes), mErr)
				r.ManifestError = mErr.Error()
			} else {
				tables, rows, _, _ := m.Totals()
				r.Manifest = &lsManifest{Format: m.Format, Tables: tables, Rows: rows, SHA256: sum}
			}
			if out == outputJSON {
				if err := writeJSON(a.out, r); err != nil {
					return err
				}
				return mErr
			}
			for _, o := range r.Objects {
				fmt.Fprintf(a.out, "%12s  %s\n", thousands(o.Size), o.URL)
			}
			if mErr != nil {
				return mErr
			}
			fmt.Fprintf(a.out, "%d objects, %s; manifest %s: %d tables, %s rows (sha256 %s)\n", len(objs), bytesText(r.TotalBytes), m.Format, r.Manifest.Tables, thousands(r.Manifest.Rows), sum)
			return nil
		},
	}
	sf.add(ls)
	addOutputFlag(ls, &out)
	return ls
}
