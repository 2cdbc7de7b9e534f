package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/config"
)

// The commands in this file work on archives directly, in this process, without Temporal:
// a one-off verified copy, a check of an old archive, a restore. They read a worker config
// file for the connection and store profiles, so credentials come from where the worker's do.

type storeFlags struct {
	config string
	store  string
}

var defaultConfig = "/etc/retire/config.yaml"

// add gives an in-process command its --config and --store flags, and words its errors for
// where it runs (see inProcessError).
func (f *storeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", envOr("RETIRE_CONFIG", defaultConfig), "worker config file with the connection and store profiles (env RETIRE_CONFIG)")
	cmd.Flags().StringVar(&f.store, "store", "", "store profile (default: the config's default_store)")
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return f.inProcessError(cmd, run(cmd, args))
		}
	}
}

var (
	// temporalDecoration is what temporal.ApplicationError.Error adds to a message; the
	// config and adapter code shared with the worker returns such errors.
	temporalDecoration = regexp.MustCompile(` \(type: [^()]*, retryable: (?:true|false)\)`)
	notSetOnWorker     = regexp.MustCompile(`environment variable (\S+) is not set on the worker`)
)

// inProcessError rewords an error of an in-process command. The config and adapter code is
// the worker's, so its messages say "on the worker" and carry Temporal's "(type: Refused,
// retryable: false)"; here the command runs in this process, on this machine.
func (f *storeFlags) inProcessError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(err.Error(), "read config: ") {
		from := "the default"
		switch {
		case cmd.Flags().Changed("config"):
			from = "from --config"
		case os.Getenv("RETIRE_CONFIG") != "":
			from = "from RETIRE_CONFIG"
		}
		return fmt.Errorf("no config file at %s (%s): `%s` reads the worker's config file for the connection and store profiles; name it with --config <file> or RETIRE_CONFIG=<file>",
			f.config, from, cmd.CommandPath())
	}
	msg := temporalDecoration.ReplaceAllString(err.Error(), "")
	msg = notSetOnWorker.ReplaceAllString(msg, fmt.Sprintf("environment variable $1 is not set here: `%s` runs in this process, on this machine, not on a worker, so set it in this environment", cmd.CommandPath()))
	msg = strings.ReplaceAll(msg, "is not in the worker's config", "is not in the config file "+f.config)
	return errors.New(msg)
}

func (f *storeFlags) open(ctx context.Context) (*config.Config, *archive.Store, error) {
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, nil, err
	}
	store, err := activities.OpenStore(ctx, cfg, f.store)
	return cfg, store, err
}

func (a *app) archiveCommand() *cobra.Command {
	var sf storeFlags
	var path string
	var noVerify bool
	cmd := &cobra.Command{
		Use:   "archive <connection> <database>",
		Short: "Archive a database to the object store now, in this process, and verify it (no Temporal, nothing changed)",
		Long: `Export <database> to the store exactly as a retirement's archive phase does (Parquet with
zstd, DDL, manifest with checksums), then read it all back and verify it. Nothing in the
database is changed and no access is cut, so writes that happen meanwhile may or may not be
in the copy: for a consistent archive of a live database, retire it (the workflow cuts
access first) or stop its writers.`,
		Example: `  retire archive --config /etc/retire/config.yaml local shop
  retire archive --config deployments/config.demo.yaml --store demo local shop --path adhoc/shop-2026-11-22/`,
		Args: target,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, store, err := sf.open(ctx)
			if err != nil {
				return err
			}
			if err := store.EnsureBucket(ctx); err != nil {
				return err
			}
			ad, err := activities.Connect(cfg, args[0])
			if err != nil {
				return err
			}
			if path == "" {
				path = args[0] + "/" + args[1] + "/adhoc-" + time.Now().UTC().Format("20060102T150405Z") + "/"
			}
			src, err := ad.Source(ctx, args[1], engine.AccessSnapshot{Object: args[1]})
			if err != nil {
				return err
			}
			defer src.Close()
			start := time.Now()
			res, err := archive.Export(ctx, src, store, path, args[1], archive.ExportOptions{ChunkRows: cfg.Archive.ChunkRows, Parallel: cfg.Archive.Parallel})
			if err != nil {
				return err
			}
			took := time.Since(start)
			fmt.Fprintf(a.out, "archived %s/%s to s3://%s/%s: %d tables, %s rows, %d files, %s (%d bytes) in %s\n",
				args[0], args[1], store.Bucket(), store.FullKey(path), res.Tables, thousands(res.Rows), res.Files, bytesText(res.Bytes), res.Bytes, took.Round(time.Millisecond))
			if noVerify {
				fmt.Fprintf(a.out, "not verified: run `retire verify %s` before relying on it\n", path)
				return nil
			}
			return a.verify(ctx, store, path, outputText)
		},
	}
	sf.add(cmd)
	cmd.Flags().StringVar(&path, "path", "", "archive path in the store (default <connection>/<database>/adhoc-<time>/)")
	cmd.Flags().BoolVar(&noVerify, "no-verify", false, "skip the read-back (e.g. to time the export alone; verify later)")
	return cmd
}

func (a *app) verifyCommand() *cobra.Command {
	var sf storeFlags
	var out output
	cmd := &cobra.Command{
		Use:   "verify <path>",
		Short: "Read an archive back and check every size, SHA-256, row count and content checksum",
		Long: `Read the archive at <path> back and check every file's size and SHA-256, every Parquet
part's row count and each table's content checksum against its manifest. An archive that
does not verify is an error (exit 1), with one problem per file or table.

-o json prints {url, bucket, path, ok, tables, rows, files, bytes, manifest_sha256,
problems: [...], seconds}, also when the archive does not verify (then ok is false and the
exit status 1).`,
		Example: `  retire verify --config /etc/retire/config.yaml local/shop/0193.../
  retire verify --config deployments/config.demo.yaml --store demo local/retire_demo_shop/<run id>/
  retire verify local/shop/0193.../ -o json | jq '.ok, .problems'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, store, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			return a.verify(cmd.Context(), store, args[0], out)
		},
	}
	sf.add(cmd)
	addOutputFlag(cmd, &out)
	return cmd
}

// verifyReport is `retire verify -o json`.
type verifyReport struct {
	URL            string   `json:"url"`
	Bucket         string   `json:"bucket"`
	Path           string   `json:"path"`
	OK             bool     `json:"ok"`
	Tables         int64    `json:"tables"`
	Rows           int64    `json:"rows"`
	Files          int64    `json:"files"`
	Bytes          int64    `json:"bytes"`
	ManifestSHA256 string   `json:"manifest_sha256"`
	Problems       []string `json:"problems"`
	Seconds        float64  `json:"seconds"`
}

func (a *app) verify(ctx context.Context, store *archive.Store, path string, out output) error {
	start := time.Now()
	v, err := archive.Verify(ctx, store, path)
	if err != nil {
		return err
	}
	took := time.Since(start)
	var failed error
	if !v.OK {
		failed = fmt.Errorf("the archive at %s did not verify (%d problems): do not drop anything that relies on it", path, len(v.Problems))
	}
	if out == outputJSON {
		r := verifyReport{
			URL: "s3://" + store.Bucket() + "/" + store.FullKey(path), Bucket: store.Bucket(), Path: path,
			OK: v.OK, Tables: v.Tables, Rows: v.Rows, Files: v.Files, Bytes: v.Bytes,
			ManifestSHA256: v.ManifestSHA256, Problems: append([]string{}, v.Problems...), Seconds: took.Seconds(),
		}
		if err := writeJSON(a.out, r); err != nil {
			return err
		}
		return failed
	}
	if failed != nil {
		for _, p := range v.Problems {
			fmt.Fprintln(a.out, "problem:", p)
		}
		return failed
	}
	fmt.Fprintf(a.out, "verified s3://%s/%s: %d tables, %s rows, %d files, %s in %s (manifest sha256 %s)\n",
		store.Bucket(), store.FullKey(path), v.Tables, thousands(v.Rows), v.Files, bytesText(v.Bytes), took.Round(time.Millisecond), v.ManifestSHA256)
	return nil
}

func (a *app) restoreCommand() *cobra.Command {
	var sf storeFlags
	var connection, into, tables string
	var grants bool
	cmd := &cobra.Command{
		Use:   "restore <path> --connection <profile> --into <database>",
		Short: "Rebuild a database from an archive, under any name, on any connection",
		Long: `Rebuild the archived database as a NEW database <into> on <connection>: tables (DDL, then
data through LOAD DATA LOCAL INFILE), then views, routines, triggers and events. Every file is
checked against the manifest as it is read and every table's row count against the manifest;
a restore that fails drops what it created. An existing database is never written into.
Grants are not replayed unless --grants: they would give accounts access again.`,
		Example: `  retire restore --config /etc/retire/config.yaml local/shop/0193.../ --connection local --into shop_restored
  retire restore local/shop/0193.../ --connection local --into shop_film --tables film,film_actor`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if connection == "" || into == "" {
				return fmt.Errorf("say where to restore: --connection <profile> --into <new database>")
			}
			ctx := cmd.Context()
			cfg, store, err := sf.open(ctx)
			if err != nil {
				return err
			}
			ad, err := activities.Connect(cfg, connection)
			if err != nil {
				return err
			}
			loader, ok := ad.(engine.Loader)
			if !ok {
				return fmt.Errorf("connection %s: its engine cannot restore yet", connection)
			}
			opts := archive.RestoreOptions{Grants: grants, Progress: func(table string, rows int64) {
				fmt.Fprintf(a.out, "  %s: %s rows\n", table, thousands(rows))
			}}
			if tables != "" {
				opts.Tables = strings.Split(tables, ",")
			}
			start := time.Now()
			res, err := archive.Restore(ctx, store, args[0], loader, into, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "restored %s on %s: %d tables, %s rows, scripts %s, in %s\n", res.Object, connection, res.Tables, thousands(res.Rows), strings.Join(res.Scripts, " "), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	sf.add(cmd)
	cmd.Flags().StringVar(&connection, "connection", "", "connection profile to restore into")
	cmd.Flags().StringVar(&into, "into", "", "name of the new database (must not exist)")
	cmd.Flags().StringVar(&tables, "tables", "", "only these tables, comma-separated (then no views, routines, triggers, events)")
	cmd.Flags().BoolVar(&grants, "grants", false, "also replay the archived grants")
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
