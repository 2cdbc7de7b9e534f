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
	cmd := &cobra.Command{
		Use:   "record <connection> <database>",
		Short: "Print the retirement record: who asked, who signed, every gate with its time, the archive",
		Long: `Print the retirement record of <database> as Markdown. It is the same document the
workflow writes as record.md beside the archive when it ends; while the retirement runs,
it is the record so far.`,
		Example: `  retire record local shop
  retire record local shop --run-id 0193...   # an earlier retirement of the same database`,
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
			_, err = io.WriteString(a.out, workflows.Markdown(v.Status))
			return err
		},
	}
	cmd.Flags().StringVar(&runID, "run-id", "", "a specific run (default: the latest)")
	return cmd
}

// lsCommand lists an archive in the object store, without Temporal.
func (a *app) lsCommand() *cobra.Command {
	var sf storeFlags
	ls := &cobra.Command{
		Use:   "ls <path>",
		Short: "List the objects of an archive with their sizes, and check that its manifest is there",
		Example: `  retire ls --config /etc/retire/config.yaml --store archive local/shop/0193.../
  retire ls --config deployments/config.demo.yaml local/retire_demo_shop/<run id>/`,
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
			var total int64
			for _, o := range objs {
				fmt.Fprintf(a.out, "%12s  s3://%s/%s\n", thousands(o.Size), store.Bucket(), store.FullKey(o.Key))
				total += o.Size
			}
			m, sum, err := archive.ReadManifest(ctx, store, args[0])
			if err != nil {
				return fmt.Errorf("%d objects, %s, but the manifest cannot be read: %w", len(objs), bytesText(total), err)
			}
			tables, rows, _, _ := m.Totals()
			fmt.Fprintf(a.out, "%d objects, %s; manifest %s: %d tables, %s rows (sha256 %s)\n", len(objs), bytesText(total), m.Format, tables, thousands(rows), sum)
			return nil
		},
	}
	sf.add(ls)
	return ls
}
